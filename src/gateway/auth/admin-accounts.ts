/**
 * The console's local admin account: `admin.json` in the data dir, the password hashed with scrypt
 * (random salt, the cost parameters stored beside the hash so they can be raised later), written
 * durably with mode 0600. Only the gateway writes it.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from './access-file.js';

export const ADMIN_FILE = 'admin.json';

/** Letters, digits and . _ @ -, starting with a letter or digit: safe in logs and audit records. */
export const ADMIN_USERNAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const MIN_PASSWORD_LENGTH = 12;

const accountSchema = z.object({
  username: z.string(),
  /** `scrypt$N$r$p$salt$hash` (base64url); absent for an account made by the desktop app's local login until a password is set. */
  passwordHash: z.string().optional(),
  createdAt: z.string(),
  /** Who added it from the console (absent for the first account). */
  createdBy: z.string().optional(),
  passwordChangedAt: z.string().optional(),
  /** The last successful sign-in (any way: password, setup, the desktop app's link) and from where. */
  lastSignInAt: z.string().optional(),
  lastSignInFrom: z.string().optional(),
});
export type AdminAccount = z.infer<typeof accountSchema>;

const adminFileSchema = z.object({ format: z.literal(1), accounts: z.array(accountSchema) });
type AdminFile = z.infer<typeof adminFileSchema>;

// N=2^15, r=8: about 50-100 ms per hash on a server core (OWASP's scrypt minimum is N=2^17 with
// r=8, p=1 or an equivalent cost; 2^15 with 2 passes would be the same memory-time, but one
// login must stay fast on the 2-core machines this runs on). Stored per hash, so raising it later
// re-hashes nothing that exists.
const COST = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

function memoryFor(o: { N: number; r: number; p: number }): number {
  return 128 * o.N * o.r * (o.p + 1) + 1024 * 1024;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LENGTH, { ...COST, maxmem: memoryFor(COST) });
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPasswordHash(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return false;
  const expected = Buffer.from(parts[5], 'base64url');
  const key = await scryptAsync(password, Buffer.from(parts[4], 'base64url'), expected.length, { N, r, p, maxmem: memoryFor({ N, r, p }) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Why a new password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string, username: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `The password needs at least ${MIN_PASSWORD_LENGTH} characters.`;
  if (password.length > 1024) return 'The password is longer than 1024 characters.';
  if (password.toLowerCase() === username.toLowerCase()) return 'The password must not be the user name.';
  return undefined;
}

/** Why an account change was refused: the admin API maps `code` to a status. */
export class AdminAccountError extends Error {
  override name = 'AdminAccountError';
  constructor(
    readonly code: 'invalid' | 'exists' | 'missing' | 'last',
    message: string,
  ) {
    super(message);
  }
}

/** The admin accounts of one data dir. */
export class AdminAccounts {
  private data: AdminFile;
  /** Set while the first account is being hashed and written: no second first account meanwhile. */
  private creatingFirst = false;
  /** A hash to verify against when the user name is unknown, so timing does not tell which names exist. */
  private decoy?: Promise<string>;

  constructor(private readonly dataDir: string) {
    this.data = this.read();
  }

  private read(): AdminFile {
    const file = join(this.dataDir, ADMIN_FILE);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { format: 1, accounts: [] };
      throw err;
    }
    try {
      return adminFileSchema.parse(JSON.parse(text));
    } catch {
      throw new Error(`${file} is damaged; restore it from a backup of the data directory, or move it aside to set up a new admin account.`);
    }
  }

  private write(): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    writeFileDurably(this.dataDir, ADMIN_FILE, JSON.stringify(this.data, null, 2) + '\n', 0o600);
  }

  hasAdmin(): boolean {
    return this.data.accounts.length > 0;
  }

  /** The account, matched without regard to case. */
  get(username: string): AdminAccount | undefined {
    const u = username.toLowerCase();
    return this.data.accounts.find((a) => a.username.toLowerCase() === u);
  }

  /** The first account: the one the desktop app's local login signs in as. */
  first(): AdminAccount | undefined {
    return this.data.accounts[0];
  }

  /** Every account, in creation order. */
  list(): AdminAccount[] {
    return this.data.accounts.map((a) => ({ ...a }));
  }

  /**
   * Creates the first account (setup code, the desktop app's first local sign-in). The check
   * that none exists and the claim happen before the first await, so of concurrent callers one
   * wins and the others get `exists`.
   */
  async createFirst(username: string, password?: string): Promise<AdminAccount> {
    if (this.hasAdmin() || this.creatingFirst) throw new AdminAccountError('exists', 'An admin account already exists; sign in instead.');
    this.creatingFirst = true;
    try {
      return await this.create(username, password);
    } finally {
      this.creatingFirst = false;
    }
  }

  /** Creates an account; without a password it can only be used through the desktop app's local login. */
  async create(username: string, password?: string, createdBy?: string): Promise<AdminAccount> {
    if (!ADMIN_USERNAME_RE.test(username)) throw new AdminAccountError('invalid', 'The user name may use letters, digits, ".", "_", "@" and "-" (up to 64 characters).');
    const taken = () => {
      if (this.get(username)) throw new AdminAccountError('exists', `An admin account "${username}" already exists.`);
    };
    taken();
    if (password !== undefined) {
      const problem = passwordProblem(password, username);
      if (problem) throw new AdminAccountError('invalid', problem);
    }
    const now = new Date().toISOString();
    const passwordHash = password !== undefined ? await hashPassword(password) : undefined;
    taken(); // again: another request may have taken the name while this one hashed
    const account: AdminAccount = { username, createdAt: now, ...(createdBy ? { createdBy } : {}), ...(passwordHash ? { passwordHash, passwordChangedAt: now } : {}) };
    this.data.accounts.push(account);
    try {
      this.write();
    } catch (err) {
      this.data.accounts.pop();
      throw err;
    }
    return account;
  }

  /** Removes an account; the last one cannot be removed (nobody could sign in to the console). */
  remove(username: string): AdminAccount {
    const account = this.get(username);
    if (!account) throw new AdminAccountError('missing', `No admin account "${username}".`);
    if (this.data.accounts.length === 1) throw new AdminAccountError('last', 'This is the only admin account; add another before removing it.');
    const before = this.data.accounts;
    this.data.accounts = before.filter((a) => a !== account);
    try {
      this.write();
    } catch (err) {
      this.data.accounts = before;
      throw err;
    }
    return account;
  }

  /** Records a successful sign-in (shown on the console's admin accounts page). */
  recordSignIn(username: string, from: string, at = new Date()): void {
    const account = this.get(username);
    if (!account) return;
    const before = { ...account };
    account.lastSignInAt = at.toISOString();
    account.lastSignInFrom = from;
    try {
      this.write();
    } catch (err) {
      Object.assign(account, before);
      throw err;
    }
  }

  async setPassword(username: string, password: string): Promise<void> {
    const account = this.get(username);
    if (!account) throw new AdminAccountError('missing', `No admin account "${username}".`);
    const problem = passwordProblem(password, account.username);
    if (problem) throw new AdminAccountError('invalid', problem);
    const before = { ...account };
    account.passwordHash = await hashPassword(password);
    account.passwordChangedAt = new Date().toISOString();
    try {
      this.write();
    } catch (err) {
      Object.assign(account, before);
      throw err;
    }
  }

  /** The account when the password matches; always spends one scrypt, whether the name exists or not. */
  async verify(username: string, password: string): Promise<AdminAccount | undefined> {
    const account = this.get(username);
    if (!account?.passwordHash) {
      this.decoy ??= hashPassword(randomBytes(16).toString('hex'));
      await verifyPasswordHash(password, await this.decoy);
      return undefined;
    }
    return (await verifyPasswordHash(password, account.passwordHash)) ? account : undefined;
  }
}
