/**
 * The `scim-bridge` command. Every flag can also come from the environment (SCIM_BRIDGE_*) or a
 * config file (--config); see config.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { Command, Option } from 'commander';
import { readAccess } from './auth/index.js';
import { AdminAccounts, confirmWithRunningGateway, createConnection, createToken, listTokens, requestUnlock, revokeToken } from './auth/index.js';
import { ConfigError, loadConfig, type GatewayConfig } from './config.js';
import { assertPrivateDataDir } from './data-dir.js';
import { startGateway } from './server.js';
import { restoreBackup, takeBackup } from './jobs/index.js';
import { registerAuditCommands } from './audit/index.js';
import { copySecrets, openFileSecretStore, openSecretStore, secretAccount } from './secrets/index.js';
import { acquireStoreLock, createLowdbStore, createPostgresStore, migrateLowdbToPostgres, writePostgresAuditFiles } from './store/index.js';

interface CommonFlags {
  config?: string;
  dataDir?: string;
}

/** The configuration; the data directory it names must be private to this user (data-dir.ts). */
function configFrom(flags: CommonFlags & Record<string, unknown>): GatewayConfig {
  const { config, ...rest } = flags;
  const loaded = loadConfig({ configFile: config, flags: rest });
  assertPrivateDataDir(loaded.dataDir);
  return loaded;
}

/** `90d`, `12h`, `30m` or an ISO date -> Date. */
export function parseExpiry(text: string): Date {
  const m = /^(\d+)([dhm])$/.exec(text.trim());
  if (m) {
    const n = Number(m[1]);
    const ms = m[2] === 'd' ? n * 86_400_000 : m[2] === 'h' ? n * 3_600_000 : n * 60_000;
    return new Date(Date.now() + ms);
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new ConfigError(`--expires must be a duration like 90d, 12h, 30m or a date like 2027-01-31; got "${text}".`);
  if (t <= Date.now()) throw new ConfigError(`--expires ${text} is in the past.`);
  return new Date(t);
}

/** All of stdin (a secret piped in); bounded so a mistaken pipe cannot fill memory. */
function readStdin(limit = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    if (process.stdin.isTTY) {
      reject(new ConfigError('Pipe the value in on stdin, so it stays out of your shell history and the process list.'));
      return;
    }
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => {
      text += c;
      if (text.length > limit) reject(new ConfigError(`The value on stdin is larger than ${limit} bytes.`));
    });
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export function buildCli(): Command {
  const program = new Command('scim-bridge')
    .description('On-prem SCIM 2.0 gateway: identity providers push users and groups; connectors apply them to legacy systems.')
    .showHelpAfterError();
  const dataDirOption = () => new Option('--data-dir <dir>', 'data directory (env SCIM_BRIDGE_DATA_DIR; default ~/.scim-bridge)');
  const configOption = () => new Option('--config <file>', 'JSON config file (env SCIM_BRIDGE_CONFIG)');

  program
    .command('serve')
    .description('run the gateway (SCIM listener and admin listener)')
    .addOption(dataDirOption())
    .addOption(configOption())
    .option('--port <port>', 'SCIM listener port (env SCIM_BRIDGE_PORT; default 8080)')
    .option('--host <host>', 'SCIM listener address (env SCIM_BRIDGE_HOST; default 0.0.0.0)')
    .option('--admin-port <port>', 'admin console port (env SCIM_BRIDGE_ADMIN_PORT; default 8081)')
    .option('--admin-host <host>', 'admin console address (env SCIM_BRIDGE_ADMIN_HOST; default 127.0.0.1)')
    .option('--public-url <url>', 'the URL identity providers use, when behind a proxy (env SCIM_BRIDGE_PUBLIC_URL)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (env SCIM_BRIDGE_LOG_LEVEL)')
    .action(async (flags: CommonFlags & Record<string, unknown>) => {
      const config = configFrom(flags);
      // V8 lets the old generation grow to several times the live heap before collecting; under
      // sustained SCIM traffic that held RSS well above the 500 MB budget at 100k users. A 50%
      // growing factor keeps it near 1.5x live at no measurable cost in throughput (bench/run.mjs).
      // Set here, not in the gateway: the process owner decides (the Electron shell does the same).
      v8.setFlagsFromString('--heap-growing-percent=50');
      const gateway = await startGateway(config);
      const access = readAccess(config.dataDir);
      const lines = [
        '',
        'SCIM Bridge is running.',
        `  SCIM base URL:  ${gateway.scimUrl}`,
        `  Admin console:  ${gateway.adminUrl}`,
        `  Data directory: ${config.dataDir}`,
      ];
      // First run: the one-time code that lets whoever can read this output create the admin account.
      const setup = gateway.admin.setupCode();
      if (setup) {
        lines.push(
          '',
          'First run: open the admin console and enter this one-time setup code to create the admin account:',
          `  Setup code:     ${setup.code}`,
          `  It works once, until ${setup.expiresAt.toISOString()}; each start prints a new one until the account exists.`,
        );
      }
      if (access.tokens.filter((t) => !t.revokedAt).length === 0) {
        lines.push('', 'No SCIM token yet. Create one for your identity provider with:', `  npx scim-bridge token create --name Okta --data-dir ${JSON.stringify(config.dataDir)}`);
      }
      process.stdout.write(lines.join('\n') + '\n\n');
      let signalled = false;
      const shutdown = (signal: string) => {
        if (signalled) return;
        signalled = true;
        gateway.logger.info({ signal }, 'shutting down: draining requests and flushing the store');
        gateway.stop().then(
          () => process.exit(0),
          (err) => {
            gateway.logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });

  const token = program.command('token').description('SCIM bearer tokens for identity providers');
  token
    .command('create')
    .description('create a token; it is printed once, alone on the last line')
    .requiredOption('--name <name>', 'a name that says who uses it, e.g. "Okta" or "Entra provisioning"')
    .option('--connection <connection>', 'the connection (IdP integration) it belongs to', 'default')
    .option('--expires <when>', 'expiry: a duration (90d, 12h) or a date')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action((flags: CommonFlags & { name: string; connection: string; expires?: string }) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      const created = createToken(config.dataDir, {
        name: flags.name,
        connection: flags.connection,
        expiresAt: flags.expires ? parseExpiry(flags.expires) : undefined,
      });
      process.stdout.write(
        [
          `Created token ${created.record.id} "${created.record.name}" for connection "${created.record.connection}"${created.record.expiresAt ? `, expires ${created.record.expiresAt}` : ''}.`,
          'Copy it now: it is shown only once. Paste it into your identity provider as the bearer token / secret token.',
          created.token,
        ].join('\n') + '\n',
      );
    });
  token
    .command('list')
    .description('list tokens (never their values)')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action((flags: CommonFlags & { json?: boolean }) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      const tokens = listTokens(config.dataDir).map(({ hash: _hash, ...t }) => t);
      if (flags.json) {
        process.stdout.write(JSON.stringify(tokens, null, 2) + '\n');
        return;
      }
      if (tokens.length === 0) {
        process.stdout.write('No tokens. Create one with: scim-bridge token create --name Okta\n');
        return;
      }
      const now = Date.now();
      const state = (t: (typeof tokens)[number]) =>
        t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) <= now ? 'expired' : 'active';
      process.stdout.write(
        table([
          ['ID', 'NAME', 'CONNECTION', 'PREFIX', 'STATE', 'CREATED', 'LAST USED', 'EXPIRES'],
          ...tokens.map((t) => [t.id, t.name, t.connection, `${t.prefix}…`, state(t), t.createdAt, t.lastUsedAt ?? '-', t.expiresAt ?? '-']),
        ]) + '\n',
      );
    });
  token
    .command('revoke <id>')
    .description('revoke a token; returns once a running gateway on the data directory refuses it')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (id: string, flags: CommonFlags) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      const t = revokeToken(config.dataDir, id);
      const what = `token ${t.id} "${t.name}" (connection "${t.connection}")`;
      const gateway = await confirmWithRunningGateway(config.dataDir);
      if (gateway.state === 'unconfirmed') {
        throw new Error(
          `access.json records the revocation of ${what}, but the running gateway (process ${gateway.pid}) has not confirmed it within 5 s. ` +
            `If that process is a gateway, check its log ("could not read access.json"); it refuses the token once it reads the file.`,
        );
      }
      process.stdout.write(`Revoked ${what}${gateway.state === 'confirmed' ? `; the running gateway (process ${gateway.pid}) refuses it from now on` : ''}.\n`);
    });

  const connection = program.command('connection').description('connections: one per identity provider integration, each with private users and groups');
  connection
    .command('create <name>')
    .description('create a connection')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action((name: string, flags: CommonFlags) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      const c = createConnection(config.dataDir, name);
      process.stdout.write(`Created connection "${c.id}". Create its token with: scim-bridge token create --name <IdP> --connection ${c.id}\n`);
    });
  connection
    .command('list')
    .description('list connections')
    .option('--json', 'machine-readable output')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action((flags: CommonFlags & { json?: boolean }) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      const access = readAccess(config.dataDir);
      if (flags.json) {
        process.stdout.write(JSON.stringify(access.connections, null, 2) + '\n');
        return;
      }
      process.stdout.write(
        table([
          ['CONNECTION', 'CREATED', 'STATUS', 'TOKENS'],
          ...access.connections.map((c) => [
            c.id,
            c.createdAt,
            c.firstRequestAt ? `connected since ${c.firstRequestAt}` : 'waiting for the first request',
            String(access.tokens.filter((t) => t.connection === c.id && !t.revokedAt).length),
          ]),
        ]) + '\n',
      );
    });

  const admin = program.command('admin').description('console admin accounts and their sign-in lockouts');
  admin
    .command('list')
    .description('list the console admin accounts with their last sign-in')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action((flags: CommonFlags) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      const accounts = new AdminAccounts(config.dataDir).list();
      if (accounts.length === 0) {
        process.stdout.write('No admin account yet: `scim-bridge serve` prints a one-time setup code.\n');
        return;
      }
      process.stdout.write(
        table([
          ['ADMIN', 'CREATED', 'CREATED BY', 'PASSWORD', 'LAST SIGN-IN'],
          ...accounts.map((a) => [a.username, a.createdAt, a.createdBy ?? '-', a.passwordHash ? 'set' : 'none (desktop app only)', a.lastSignInAt ? `${a.lastSignInAt} from ${a.lastSignInFrom ?? '?'}` : 'never']),
        ]) + '\n',
      );
    });
  admin
    .command('unlock [username]')
    .description('lift console sign-in lockouts of the running gateway: of one account name, from one address, or all')
    .option('--address <ip>', 'only the lockouts of this client address')
    .option('--all', 'every lockout')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action((username: string | undefined, flags: CommonFlags & { address?: string; all?: boolean }) => {
      if (!username && !flags.address && !flags.all) throw new ConfigError('Name the account (scim-bridge admin unlock ada), an address (--address 127.0.0.1), or use --all.');
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      requestUnlock(config.dataDir, { ...(username ? { username } : {}), ...(flags.address ? { address: flags.address } : {}) });
      const what = [username ? `account "${username}"` : undefined, flags.address ? `address ${flags.address}` : undefined].filter(Boolean).join(' from ') || 'every account and address';
      process.stdout.write(`Unlocked console sign-in for ${what}: the running gateway applies it at the next sign-in attempt.\n`);
    });

  program
    .command('backup')
    .description('back up the data directory (store and tokens) while the gateway is stopped; a running gateway backs itself up daily')
    .addOption(dataDirOption())
    .addOption(configOption())
    .option('--to <dir>', 'where to put it (default <data-dir>/backups/<time>)')
    .action(async (flags: CommonFlags & { to?: string }) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      // store: postgres: a consistent copy of the database as a db.json (pg_dump is the database's own way; docs/scaling.md)
      const store =
        config.store === 'postgres'
          ? createPostgresStore({ url: config.databaseUrl!, password: () => databasePassword(config), logger: quietLogger })
          : createLowdbStore({ dataDir: config.dataDir, logger: quietLogger });
      await store.open();
      try {
        const info = flags.to ? await takeBackup(store, config.dataDir, flags.to) : await takeBackup(store, config.dataDir);
        process.stdout.write(`Backed up ${info.users} users and ${info.groups} groups to ${info.dir}\n`);
      } finally {
        await store.close();
      }
    });

  program
    .command('restore')
    .description('replace the store and tokens with a backup (the gateway must be stopped); the replaced files are kept aside')
    .requiredOption('--from <dir>', 'a backup directory (from `backup`, or <data-dir>/backups/<time>)')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (flags: CommonFlags & { from: string }) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      if (config.store === 'postgres') {
        throw new ConfigError(
          'restore replaces the embedded store of a data directory; this configuration uses PostgreSQL. Restore the database with pg_restore, or restore the backup into a data directory with store lowdb and move it with `scim-bridge migrate --from lowdb --to postgres` into an empty database.',
        );
      }
      const lock = await acquireStoreLock(config.dataDir);
      let replacedDir: string;
      try {
        ({ replacedDir } = await restoreBackup(config.dataDir, flags.from));
      } finally {
        await lock.release();
      }
      const store = createLowdbStore({ dataDir: config.dataDir, logger: quietLogger });
      await store.open(); // proves the restored store opens
      const stats = await store.stats();
      await store.close();
      process.stdout.write(`Restored ${stats.users} users and ${stats.groups} groups from ${flags.from}. The replaced files are in ${replacedDir}.\n`);
    });

  program
    .command('migrate')
    .description('move the store from the data directory (lowdb) into an empty PostgreSQL database, with versions, outbox, links and the audit chain; the gateway must be stopped')
    .requiredOption('--from <store>', 'lowdb')
    .requiredOption('--to <store>', 'postgres')
    .option('--database-url <url>', 'postgres://user@host:5432/database (env SCIM_BRIDGE_DATABASE_URL); the password from the URL, PGPASSWORD or `secrets set store databasePassword`')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (flags: CommonFlags & { from: string; to: string; databaseUrl?: string }) => {
      if (flags.from !== 'lowdb' || flags.to !== 'postgres') throw new ConfigError(`Only --from lowdb --to postgres is supported (got --from ${flags.from} --to ${flags.to}).`);
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir, databaseUrl: flags.databaseUrl });
      if (!config.databaseUrl) throw new ConfigError('Name the database: --database-url postgres://user@host:5432/database (or SCIM_BRIDGE_DATABASE_URL).');
      const report = await migrateLowdbToPostgres({
        dataDir: config.dataDir,
        url: config.databaseUrl,
        password: () => databasePassword(config),
      });
      process.stdout.write(
        `Migrated into ${report.database} and verified the counts: ${report.users} users, ${report.groups} groups, ${report.members} memberships, ${report.tombstones} deleted users kept, ${report.outbox} outbox entries, ${report.links} target links, ${report.auditRecords} audit records.\n` +
          `Now set "store": "postgres" and the databaseUrl in the configuration of every instance (SCIM_BRIDGE_STORE=postgres), then start them. The files in ${config.dataDir} are left as they were.\n`,
      );
    });

  // Connector secrets (keychain or encrypted file): values come from stdin, never from argv.
  const secrets = program.command('secrets').description('connector credentials in the OS keychain (or the encrypted file where none is reachable)');
  const openSecrets = async (flags: CommonFlags, backend?: 'keychain' | 'file') => {
    const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
    return openSecretStore({ dataDir: config.dataDir, backend: backend ?? config.secretsBackend, ...(config.secretsKeyFile ? { keyFile: config.secretsKeyFile } : {}) });
  };
  secrets
    .command('set <connector> <field>')
    .description('store a secret field of a connector (e.g. ldap-main bindPassword); the value is read from stdin')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (connector: string, field: string, flags: CommonFlags) => {
      const value = (await readStdin()).replace(/\r?\n$/, '');
      if (!value) throw new ConfigError('No value on stdin: pipe it in, e.g. `printf %s "$PASSWORD" | scim-bridge secrets set ldap-main bindPassword`.');
      const store = await openSecrets(flags);
      try {
        await store.set(secretAccount(connector, field), value);
        process.stdout.write(`Stored ${connector}:${field} in ${store.describe().location}. A running gateway uses it when the connector restarts (save the connection in the console, or restart).\n`);
      } finally {
        await store.close();
      }
    });
  secrets
    .command('list')
    .description('list the stored secret fields (never their values)')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (flags: CommonFlags) => {
      const store = await openSecrets(flags);
      try {
        const accounts = await store.list();
        process.stdout.write(`${store.describe().location}\n${accounts.length ? accounts.map((a) => `  ${a}`).join('\n') : '  (none)'}\n`);
      } finally {
        await store.close();
      }
    });
  secrets
    .command('delete <connector> <field>')
    .description('remove a stored secret field')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (connector: string, field: string, flags: CommonFlags) => {
      const store = await openSecrets(flags);
      try {
        const existed = await store.delete(secretAccount(connector, field));
        process.stdout.write(existed ? `Deleted ${connector}:${field}.\n` : `There was no ${connector}:${field}.\n`);
      } finally {
        await store.close();
      }
    });
  secrets
    .command('rotate-key')
    .description('re-encrypt the encrypted secrets file under a new key (file backend)')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (flags: CommonFlags) => {
      const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
      const store = await openFileSecretStore({ dataDir: config.dataDir, ...(config.secretsKeyFile ? { keyFile: config.secretsKeyFile } : {}) });
      try {
        await store.rotateKey();
        process.stdout.write(`Rotated the key of ${store.file}; back up the new key file ${store.keyFile} separately.\n`);
      } finally {
        await store.close();
      }
    });
  secrets
    .command('migrate')
    .description('copy every secret to the other backend (the source is left as it is)')
    .requiredOption('--to <backend>', 'keychain or file')
    .option('--overwrite', 'replace values that already exist in the destination')
    .addOption(dataDirOption())
    .addOption(configOption())
    .action(async (flags: CommonFlags & { to: string; overwrite?: boolean }) => {
      if (flags.to !== 'keychain' && flags.to !== 'file') throw new ConfigError(`--to must be keychain or file, not "${flags.to}".`);
      const from = await openSecrets(flags, flags.to === 'keychain' ? 'file' : 'keychain');
      const to = await openSecrets(flags, flags.to);
      try {
        const result = await copySecrets(from, to, { overwrite: flags.overwrite === true });
        process.stdout.write(`${JSON.stringify(result)}\nCopied into ${to.describe().location}. Once the connectors work, remove the old copy.\n`);
      } finally {
        await from.close();
        await to.close();
      }
    });

  // With store: postgres the audit log is in the database: `audit verify|export` read a copy of
  // its chain, written as the files they read into a temp directory (decision 0013).
  let auditCopy: string | undefined;
  const audit = registerAuditCommands(program, (flags) => auditCopy ?? configFrom({ config: (flags as CommonFlags).config, dataDir: (flags as CommonFlags).dataDir }).dataDir);
  audit.hook('preAction', async (_audit, action) => {
    const flags = action.opts() as CommonFlags;
    const config = configFrom({ config: flags.config, dataDir: flags.dataDir });
    if (config.store !== 'postgres') return;
    auditCopy = await mkdtemp(join(tmpdir(), 'scim-bridge-audit-'));
    await writePostgresAuditFiles({ url: config.databaseUrl!, password: () => databasePassword(config) }, auditCopy);
  });
  audit.hook('postAction', async () => {
    if (auditCopy) await rm(auditCopy, { recursive: true, force: true });
  });

  return program;
}

const quietLogger = { info() {}, warn() {}, error() {} };

/** The PostgreSQL store's password from the secret store (`secrets set store databasePassword`), if set. */
async function databasePassword(config: GatewayConfig): Promise<string | undefined> {
  const secrets = await openSecretStore({ dataDir: config.dataDir, backend: config.secretsBackend, ...(config.secretsKeyFile ? { keyFile: config.secretsKeyFile } : {}) });
  try {
    return await secrets.get('store:databasePassword');
  } finally {
    await secrets.close();
  }
}

/** Runs the CLI; errors become one readable line and exit code 1 (2 for usage errors). */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`scim-bridge: ${message}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
}
