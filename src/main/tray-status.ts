/**
 * What the tray icon says: the gateway's state and outbox as a tooltip, an icon variant and a
 * menu model. Pure: index.ts turns the model into Electron's Tray and Menu.
 */

export type GatewayState = 'starting' | 'running' | 'stopping' | 'failed';

export interface DesktopStatus {
  state: GatewayState;
  scimUrl?: string;
  /** Changes waiting to be delivered to connectors (including ones being retried). */
  outboxPending?: number;
  /** Deliveries that gave up: they need a look in the console's Outbox page. */
  outboxDead?: number;
  /** Why the gateway is not running, or why its status could not be read. */
  problem?: string;
}

export type TrayAction = 'open-console' | 'copy-scim-url' | 'quit';

export type TrayMenuEntry =
  | { kind: 'action'; id: TrayAction; label: string; enabled: boolean }
  | { kind: 'toggle'; id: 'start-at-login'; label: string; checked: boolean; enabled: boolean }
  | { kind: 'info'; label: string }
  | { kind: 'separator' };

export interface TrayModel {
  tooltip: string;
  /** `attention` when something needs the admin: failed deliveries, or the gateway not running. */
  icon: 'normal' | 'attention';
  menu: TrayMenuEntry[];
}

export interface LoginItemState {
  /** False where start at login cannot be set (then the toggle is shown disabled). */
  supported: boolean;
  enabled: boolean;
}

/** Windows truncates tray tooltips at 127 characters. */
const TOOLTIP_MAX = 127;

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** One line: what the gateway is doing and whether anything needs the admin. */
export function statusLine(status: DesktopStatus): string {
  switch (status.state) {
    case 'starting':
      return 'Starting…';
    case 'stopping':
      return 'Stopping: finishing requests and saving data…';
    case 'failed':
      return `Not running: ${status.problem ?? 'the gateway stopped'}`;
    case 'running': {
      const parts: string[] = [];
      const dead = status.outboxDead ?? 0;
      const pending = status.outboxPending ?? 0;
      if (dead > 0) parts.push(plural(dead, 'failed delivery', 'failed deliveries'));
      if (pending > 0) parts.push(plural(pending, 'change waiting', 'changes waiting'));
      if (status.problem) parts.push(status.problem);
      return parts.length ? `Running · ${parts.join(' · ')}` : 'Running · all changes delivered';
    }
  }
}

export function trayModel(status: DesktopStatus, login: LoginItemState): TrayModel {
  const line = statusLine(status);
  const tooltip = `SCIM Bridge: ${line}`;
  const attention = status.state === 'failed' || (status.state === 'running' && (status.outboxDead ?? 0) > 0);
  const running = status.state === 'running';
  const menu: TrayMenuEntry[] = [
    { kind: 'info', label: line },
    ...(status.scimUrl ? [{ kind: 'info' as const, label: `SCIM base URL: ${status.scimUrl}` }] : []),
    { kind: 'separator' },
    { kind: 'action', id: 'open-console', label: (status.outboxDead ?? 0) > 0 ? 'Open console (see Outbox)' : 'Open console', enabled: running },
    { kind: 'action', id: 'copy-scim-url', label: 'Copy SCIM base URL', enabled: running && status.scimUrl !== undefined },
    { kind: 'separator' },
    { kind: 'toggle', id: 'start-at-login', label: 'Start at login', checked: login.supported && login.enabled, enabled: login.supported },
    { kind: 'separator' },
    { kind: 'action', id: 'quit', label: 'Quit SCIM Bridge (stops the gateway)', enabled: status.state !== 'stopping' },
  ];
  return {
    tooltip: tooltip.length > TOOLTIP_MAX ? tooltip.slice(0, TOOLTIP_MAX - 1) + '…' : tooltip,
    icon: attention ? 'attention' : 'normal',
    menu,
  };
}
