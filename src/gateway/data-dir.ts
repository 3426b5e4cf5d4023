/**
 * Whether the data directory can be trusted: nothing in it may have been written by another
 * local user. In a group- or world-writable directory anyone can replace access.json (and their
 * own token then works), admin.json or connections.json; a file owned by another user is what
 * such a replacement leaves behind. The gateway refuses rather than repairs: once the directory
 * was open, only the admin can tell whether what is in it is still theirs.
 *
 * POSIX only: Windows has no mode bits to check; there the default locations live in the user's
 * profile, protected by its ACL (docs/install.md).
 */
import { closeSync, fstatSync, lstatSync, openSync, readFileSync, readdirSync, statSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';

/** The data directory, or a file in it, could have been written by another local user. */
export class UntrustedDataDirError extends Error {
  override name = 'UntrustedDataDirError';
}

const POSIX = process.platform !== 'win32' && typeof process.getuid === 'function';

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Owners whose files are trusted: this process's user and root. Root (a `sudo scim-bridge …`
 * command on a service's directory) also trusts the directory's owner, the service user.
 */
function trustedOwners(dirOwner: number): ReadonlySet<number> {
  const uid = process.getuid!();
  return new Set(uid === 0 ? [0, dirOwner] : [uid, 0]);
}

/** What lets another user write this entry, or undefined. */
function problemWith(path: string, st: Stats, trusted: ReadonlySet<number>): string | undefined {
  if (!trusted.has(st.uid)) return `${path} belongs to uid ${st.uid}, not to this gateway's user`;
  if (st.isSymbolicLink()) return undefined; // a link's own mode means nothing
  const writable = st.mode & 0o022;
  if (writable === 0) return undefined;
  const who = writable === 0o022 ? 'group and others' : writable === 0o020 ? 'group' : 'others';
  return `${path} is writable by ${who} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
}

function refuse(dataDir: string, problems: string[]): never {
  const uid = process.getuid!();
  let user = String(uid);
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry (a container's arbitrary uid): the number will do */
  }
  const shown = problems.slice(0, 10);
  const more = problems.length - shown.length;
  throw new UntrustedDataDirError(
    `The data directory ${dataDir} is not private to this gateway's OS user (${user}, uid ${uid}); ` +
      `another local user could have replaced what the gateway trusts in it (SCIM tokens, the admin account, connections):\n` +
      shown.map((p) => `  ${p}\n`).join('') +
      (more > 0 ? `  …and ${more} more\n` : '') +
      `Check those files (restore them from a backup if in doubt), then make the directory private: chmod -R go-w "${dataDir}" && chown -R ${user} "${dataDir}"`,
  );
}

/**
 * Refuses a data directory that another local user could have written to: the directory or
 * anything below it writable by group or others, or owned by another user. A directory that does
 * not exist yet is fine: the gateway creates it 0700.
 */
export function assertPrivateDataDir(dataDir: string): void {
  if (!POSIX) return;
  let top: Stats;
  try {
    top = statSync(dataDir); // follows a symlinked data directory to the real one
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  const trusted = trustedOwners(top.uid);
  const problems: string[] = [];
  const note = (path: string, st: Stats) => {
    const p = problemWith(path, st, trusted);
    if (p) problems.push(p);
  };
  note(dataDir, top);
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const name of names) {
      const path = join(dir, name);
      let st: Stats;
      try {
        st = lstatSync(path);
      } catch (err) {
        if (isMissing(err)) continue; // a lock or temp file gone meanwhile
        throw err;
      }
      note(path, st);
      if (st.isDirectory()) walk(path);
    }
  };
  if (top.isDirectory()) walk(dataDir);
  if (problems.length > 0) refuse(dataDir, problems);
}

/**
 * Reads a file of the data directory that decides who gets in (access.json), refusing it when
 * another user could have written it or its directory. The checks look at the file as opened, so
 * a swap between check and read changes nothing. Undefined when the file does not exist.
 */
export function readPrivateFile(dataDir: string, name: string): string | undefined {
  const path = join(dataDir, name);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  try {
    if (POSIX) {
      const dir = statSync(dataDir);
      const trusted = trustedOwners(dir.uid);
      const problems = [problemWith(dataDir, dir, trusted), problemWith(path, fstatSync(fd), trusted)].filter((p): p is string => p !== undefined);
      if (problems.length > 0) refuse(dataDir, problems);
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
