/**
 * The console's only way to the gateway: same-origin JSON calls that carry the session's CSRF
 * token on every state-changing request, and errors turned into ApiError with the server's words.
 */
import type { ApiErrorBody, JobInfo, SessionInfo } from '../../gateway/admin/api-types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;
/** Called when the server says the session is gone: the app shows the sign-in page. */
let onSignedOut: ((reason: 'expired' | 'unauthenticated') => void) | undefined;

export function rememberSession(s: SessionInfo): void {
  csrfToken = s.csrfToken;
}

export function whenSignedOut(fn: (reason: 'expired' | 'unauthenticated') => void): void {
  onSignedOut = fn;
}

async function toError(res: Response): Promise<ApiError> {
  let body: ApiErrorBody | undefined;
  try {
    body = (await res.json()) as ApiErrorBody;
  } catch {
    /* not JSON */
  }
  const e = body?.error;
  if (e) return new ApiError(res.status, e.code, e.message, e.field);
  return new ApiError(res.status, 'http', `The gateway answered ${res.status} ${res.statusText}.`);
}

export async function request<T>(method: string, path: string, body?: unknown, opts: { background?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  // An automatic refresh is not the admin's activity: it does not extend the session.
  if (opts.background) headers['X-Console-Refresh'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(`/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', 'The gateway cannot be reached. Is it still running?');
  }
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 && (err.code === 'session_expired' || err.code === 'unauthenticated') && !path.startsWith('/session')) {
      onSignedOut?.(err.code === 'session_expired' ? 'expired' : 'unauthenticated');
    }
    throw err;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const api = {
  get: <T>(path: string, opts?: { background?: boolean }) => request<T>('GET', path, undefined, opts),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  delete: <T>(path: string, body?: unknown) => request<T>('DELETE', path, body),
};

/** Builds a query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Polls a job until it finishes, reporting progress. */
export async function followJob(job: JobInfo, onProgress: (job: JobInfo) => void): Promise<JobInfo> {
  let current = job;
  onProgress(current);
  while (current.state === 'running') {
    await new Promise((r) => setTimeout(r, 400));
    current = await api.get<JobInfo>(`/jobs/${current.id}`);
    onProgress(current);
  }
  return current;
}

/**
 * Downloads a streamed export, reporting bytes as they arrive, then hands the file to the browser.
 * Returns the size in bytes.
 */
export async function download(path: string, onProgress: (bytes: number) => void): Promise<number> {
  const res = await fetch(`/api${path}`, { credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok) throw await toError(res);
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'export';
  const reader = res.body!.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    bytes += value.length;
    onProgress(bytes);
  }
  const blob = new Blob(chunks as BlobPart[], { type: res.headers.get('content-type') ?? 'application/octet-stream' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return bytes;
}
