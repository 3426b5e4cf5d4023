/**
 * A real Active Directory domain controller for tests: Debian's Samba, provisioned into a temp dir
 * (samba-tool domain provision, a few seconds) once per test file and run in the foreground with
 * only its LDAP service. AD's LDAP ports are fixed (389, 636), so one instance per machine: when
 * either is taken, or samba is not installed, `startSambaAD` returns a reason to skip instead.
 * LDAPS uses a certificate for 127.0.0.1 signed by a CA made for the run, so tests verify TLS.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'ldapts';
import { makeTestCertificates, portOpen, waitUntil, type TestCertificates } from './slapd.js';

const run = promisify(execFile);

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A running Samba AD DC. */
export interface SambaAD {
  /** ldap://127.0.0.1:389 (simple binds allowed without TLS: `ldap server require strong auth = no`). */
  url: string;
  /** ldaps://127.0.0.1:636, certificate signed by `certificates.caFile`. */
  ldapsUrl: string;
  certificates: TestCertificates;
  realm: string;
  /** DC=scimtest,DC=local */
  baseDN: string;
  /** Administrator@SCIMTEST.LOCAL, a UPN: AD accepts it as a bind name. */
  adminBindName: string;
  /** CN=Administrator,CN=Users,... */
  adminDN: string;
  adminPassword: string;
  usersDN: string;
  groupsDN: string;
  disabledDN: string;
  /** A bound admin client over LDAPS (unbind it). */
  client(): Promise<Client>;
  reset(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

async function which(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** Why an AD suite cannot run here, or undefined when it can. */
export async function sambaUnavailable(): Promise<string | undefined> {
  for (const cmd of ['samba-tool', 'samba']) {
    if (!(await which(cmd))) return `${cmd} is not installed (Debian packages: samba winbind)`;
  }
  for (const port of [389, 636]) {
    if (await portOpen(port)) return `port ${port} on 127.0.0.1 is taken (another directory or Samba runs here); AD's LDAP ports are fixed`;
  }
  return undefined;
}

/** Provisions and starts a Samba AD DC, or returns why it cannot run here. */
export async function startSambaAD(): Promise<SambaAD | { skip: string }> {
  const reason = await sambaUnavailable();
  if (reason) return { skip: reason };
  const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-samba-'));
  const realm = 'SCIMTEST.LOCAL';
  const baseDN = 'DC=scimtest,DC=local';
  const adminPassword = `Adm1n!${Math.random().toString(36).slice(2, 10)}X`;
  const target = join(dir, 'dc');
  const conf = join(target, 'etc', 'smb.conf');
  let child: ChildProcess | undefined;
  let log = '';
  let exited: string | undefined;

  const launch = async (): Promise<void> => {
    log = '';
    exited = undefined;
    const proc = spawn('samba', ['-s', conf, '-i', '-M', 'single'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    running.add(proc);
    const keep = (d: Buffer): void => {
      log = (log + d.toString()).slice(-4000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      exited = `samba exited (${code ?? signal}): ${log.trim().split('\n').slice(-5).join(' | ')}`;
    });
    await waitUntil(async () => (await portOpen(389)) && (await portOpen(636)), 30_000, 'samba start', () => exited);
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
    // The ports must be free again before a restart binds them.
    await waitUntil(async () => !(await portOpen(389)) && !(await portOpen(636)), 10_000, 'samba stop');
  };

  /** Starts, retrying once: a first start right after provisioning has been seen to stall. */
  const startRobustly = async (): Promise<void> => {
    try {
      await launch();
    } catch (first) {
      await kill().catch(() => undefined);
      try {
        await launch();
      } catch (second) {
        throw new Error(`Samba AD did not start twice: ${(first as Error).message}; then ${(second as Error).message}`);
      }
    }
  };

  try {
    const certificates = await makeTestCertificates(dir);
    await run(
      'samba-tool',
      [
        'domain',
        'provision',
        `--targetdir=${target}`,
        `--realm=${realm}`,
        '--domain=SCIMTEST',
        '--server-role=dc',
        '--dns-backend=NONE',
        '--host-ip=127.0.0.1',
        '--option=interfaces=lo',
        '--option=bind interfaces only=yes',
        `--adminpass=${adminPassword}`,
      ],
      { timeout: 120_000 },
    );
    // Only the LDAP service (no SMB, RPC, KDC: fewer fixed ports, faster start); simple binds
    // without TLS for the plain-LDAP cases; our CA's certificate for LDAPS; logs in the temp dir.
    const extra = [
      '\tserver services = ldap',
      '\tldap server require strong auth = no',
      `\ttls keyfile = ${certificates.keyFile}`,
      `\ttls certfile = ${certificates.certFile}`,
      `\ttls cafile = ${certificates.caFile}`,
      `\tlog file = ${join(dir, 'log.%m')}`,
    ].join('\n');
    const original = readFileSync(conf, 'utf8');
    const withoutServices = original.replace(/^\s*(server services|log file)\s*=.*$/gm, '');
    writeFileSync(conf, withoutServices.replace(/^\[global\]$/m, `[global]\n${extra}`));
    await startRobustly();

    const ldapsUrl = 'ldaps://127.0.0.1:636';
    const adminBindName = `Administrator@${realm}`;
    const client = async (): Promise<Client> => {
      const c = new Client({ url: ldapsUrl, timeout: 15_000, connectTimeout: 5_000, tlsOptions: { ca: readFileSync(certificates.caFile, 'utf8') } });
      await c.bind(adminBindName, adminPassword);
      return c;
    };
    // The LDAP port opens before the directory answers binds: wait for a real bind.
    await waitUntil(
      async () => {
        try {
          await (await client()).unbind();
          return true;
        } catch {
          return false;
        }
      },
      20_000,
      'samba bind',
      () => exited,
    );
    const usersDN = `OU=SCIM Users,${baseDN}`;
    const groupsDN = `OU=SCIM Groups,${baseDN}`;
    const disabledDN = `OU=Disabled,${baseDN}`;
    const admin = await client();
    try {
      for (const dn of [usersDN, groupsDN, disabledDN]) await admin.add(dn, { objectClass: ['top', 'organizationalUnit'] });
    } finally {
      await admin.unbind();
    }

    return {
      url: 'ldap://127.0.0.1:389',
      ldapsUrl,
      certificates,
      realm,
      baseDN,
      adminBindName,
      adminDN: `CN=Administrator,CN=Users,${baseDN}`,
      adminPassword,
      usersDN,
      groupsDN,
      disabledDN,
      client,
      async reset() {
        const c = await client();
        try {
          for (const base of [usersDN, groupsDN, disabledDN]) {
            const { searchEntries } = await c.search(base, { scope: 'one', attributes: ['1.1'] });
            for (const e of searchEntries) await c.del(e.dn);
          }
        } finally {
          await c.unbind();
        }
      },
      stop: kill,
      async start() {
        if (child) return;
        await startRobustly();
        await waitUntil(
          async () => {
            try {
              await (await client()).unbind();
              return true;
            } catch {
              return false;
            }
          },
          20_000,
          'samba bind after restart',
        );
      },
      async close() {
        await kill();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child?.kill('SIGKILL');
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
