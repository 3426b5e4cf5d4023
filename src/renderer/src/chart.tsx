/**
 * Requests per minute (bars) with the errors in each minute (the red part of the bar) and the
 * error rate, over the last hour. Plain SVG (docs/decisions/0011-console-stack.md): sixty bars do
 * not need a charting library, and the summary line and the bars' titles make it readable
 * without seeing it.
 */
import type { TrafficPoint } from '../../gateway/admin/api-types';
import { formatTime, plural } from './format';

export function summarize(points: TrafficPoint[]): { requests: number; errors: number; rate: string; peak: number } {
  const requests = points.reduce((n, p) => n + p.requests, 0);
  const errors = points.reduce((n, p) => n + p.errors, 0);
  // Below 1% one decimal, so a rare error does not read as none.
  const pct = requests === 0 ? 0 : (errors / requests) * 100;
  const rate = errors === 0 ? '0%' : `${pct.toFixed(pct < 1 ? 1 : 0)}%`;
  return { requests, errors, rate, peak: Math.max(0, ...points.map((p) => p.requests)) };
}

/** A rounded scale top: 1, 2, 5, 10, 20, 50... */
function niceMax(n: number): number {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

export function TrafficChart(props: { points: TrafficPoint[]; height?: number; compact?: boolean; label: string }) {
  const { points } = props;
  const s = summarize(points);
  const height = props.height ?? 140;
  const width = 600;
  const top = niceMax(s.peak);
  const gap = 2;
  const barW = width / Math.max(1, points.length);
  const plotH = height;
  const summary = `${props.label}, last 60 minutes: ${plural(s.requests, 'request')}, ${plural(s.errors, 'error')} (${s.rate} error rate), at most ${s.peak} per minute.`;
  return (
    <figure class={`chart${props.compact ? ' chart-compact' : ''}`}>
      <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={summary} class="chart-svg">
        {!props.compact &&
          [0.5, 1].map((f) => <line key={f} x1="0" x2={width} y1={plotH - plotH * f} y2={plotH - plotH * f} class="chart-grid" />)}
        <line x1="0" x2={width} y1={plotH} y2={plotH} class="chart-axis" />
        {points.map((p, i) => {
          if (p.requests === 0) return null;
          const h = Math.max(1.5, (p.requests / top) * (plotH - 2));
          const eh = p.errors === 0 ? 0 : Math.max(1.5, (p.errors / top) * (plotH - 2));
          const x = i * barW + gap / 2;
          return (
            <g key={p.minute}>
              <title>{`${formatTime(p.minute)}: ${plural(p.requests, 'request')}, ${plural(p.errors, 'error')}`}</title>
              <rect x={x} y={plotH - h} width={Math.max(1, barW - gap)} height={h} class="chart-bar" />
              {eh > 0 && <rect x={x} y={plotH - eh} width={Math.max(1, barW - gap)} height={eh} class="chart-bar-error" />}
            </g>
          );
        })}
      </svg>
      {!props.compact && points.length > 0 && (
        <div class="chart-axis-labels" aria-hidden="true">
          <span>{formatTime(points[0].minute)}</span>
          <span>now</span>
        </div>
      )}
      <figcaption class="chart-caption">
        {props.compact ? (
          <>
            <span class="visually-hidden">{summary}</span>
            <span aria-hidden="true">
              Last hour: {plural(s.requests, 'request')} · {s.rate} errors
            </span>
          </>
        ) : (
          <>
            <span class="legend legend-requests">Requests per minute (scale {top})</span>
            <span class="legend legend-errors">Errors</span>
            <span class="chart-stat">
              {plural(s.requests, 'request')} · {s.rate} errors
            </span>
          </>
        )}
      </figcaption>
    </figure>
  );
}
