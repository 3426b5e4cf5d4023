/**
 * Prints filter ASTs back as RFC7644 §3.4.2.2 text (for logs, error details and tests).
 * `parseFilter(formatFilter(ast))` gives an equivalent AST; same-operator chains are printed
 * flat (`a and b and c`), so the tree shape of a chain may differ, never its meaning.
 */
import type { AttrPath, CompareValue, FilterNode } from './ast.js';

/** Prints an attribute path as `[schema:]attr[[filter]][.sub]`. */
export function formatPath(path: AttrPath): string {
  let out = path.schema === undefined ? path.attr : `${path.schema}:${path.attr}`;
  if (path.filter !== undefined) out += `[${formatFilter(path.filter)}]`;
  if (path.subAttr !== undefined) out += `.${path.subAttr}`;
  return out;
}

function formatValue(value: CompareValue): string {
  // JSON.stringify prints strings with escapes, numbers as JSON numbers, and true/false/null.
  return JSON.stringify(value);
}

/** Prints a filter AST as filter text that parseFilter accepts. */
export function formatFilter(node: FilterNode): string {
  switch (node.kind) {
    case 'compare':
      return `${formatPath(node.path)} ${node.op} ${formatValue(node.value)}`;
    case 'present':
      return `${formatPath(node.path)} pr`;
    case 'valuePath':
      return formatPath(node.path);
    case 'not':
      return `not (${formatFilter(node.filter)})`;
    case 'and':
    case 'or': {
      // Flatten the chain without recursion on same-operator children (chains can be long).
      const parts: string[] = [];
      const stack: FilterNode[] = [node];
      while (stack.length > 0) {
        const n = stack.pop() as FilterNode;
        if (n.kind === node.kind) {
          stack.push(n.right, n.left);
        } else if (n.kind === 'or') {
          // `or` inside `and` needs parentheses: `and` binds tighter.
          parts.push(`(${formatFilter(n)})`);
        } else {
          parts.push(formatFilter(n));
        }
      }
      return parts.join(` ${node.kind} `);
    }
  }
}
