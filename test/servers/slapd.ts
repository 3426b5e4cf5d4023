/**
 * A private OpenLDAP server for tests: slapd from the Debian package, run in the foreground from a
 * temp dir on free 127.0.0.1 ports, with back_mdb, the core/cosine/inetorgperson/nis schemas and
 * the ppolicy overlay (pwdAccountLockedTime). Optionally LDAPS and StartTLS with a CA and server
 * certificate made by openssl for the run. No refint overlay: the connector keeps member values
 * right itself, and the tests prove it.
 */
import { freePort } from './common.js';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'ldapts';

const run = promisify(execFile);

/** Every server process this module started, killed on exit even if a test forgot to. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});


/** True once something accepts TCP connections on the port. */
export async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    sock.setTimeout(500);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** Polls `check` every 50 ms until it is true or `ms` passed. */
export async function waitUntil(check: () => Promise<boolean>, ms: number, what: string, failed?: () => string | undefined): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const reason = failed?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not ready within ${ms} ms`);
}

/** Files of a test PKI: a CA and a server certificate for 127.0.0.1/localhost signed by it. */
export { freePort } from './common.js';

export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A CA that signed nothing here: configuring it must make TLS fail. */
  otherCaFile: string;
}

/** Makes a throw-away CA and a server certificate (EC P-256, 2 days) with openssl in `dir`. */
export async function makeTestCertificates(dir: string, hosts: { dns?: string[]; ips?: string[] } = {}): Promise<TestCertificates> {
  const dns = hosts.dns ?? ['localhost'];
  const ips = hosts.ips ?? ['127.0.0.1'];
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=SCIM Bridge test CA', ...caExt]);
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('other-ca.key'), '-out', p('other-ca.pem'), '-days', '2', '-subj', '/CN=Some other CA', ...caExt]);
  await run('openssl', ['req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', `/CN=${dns[0] ?? ips[0]}`]);
  const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  writeFileSync(p('server.ext'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('server.ext')]);
  return { caFile: p('ca.pem'), certFile: p('server.pem'), keyFile: p('server.key'), otherCaFile: p('other-ca.pem') };
}

export interface SlapdOptions {
  /** Also listen on ldaps:// and allow StartTLS, with certificates made for this run. */
  tls?: boolean;
}

/** A running private slapd. */
export interface Slapd {
  url: string;
  /** Present with `tls: true`. */
  ldapsUrl?: string;
  certificates?: TestCertificates;
  suffix: string;
  adminDN: string;
  adminPassword: string;
  peopleDN: string;
  groupsDN: string;
  disabledDN: string;
  dir: string;
  /** A bound admin client (new for each call; unbind it). */
  client(): Promise<Client>;
  /** Deletes everything below the people, groups and disabled OUs. */
  reset(): Promise<void>;
  /** Kills slapd (the port closes): the target-down case. */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same data. */
  start(): Promise<void>;
  /** Stops for good and removes the temp dir. */
  close(): Promise<void>;
}

/** Starts a private slapd and seeds dc=example,dc=org with ou=people, ou=groups and ou=disabled. */
export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  const dir = mkdtempSync(join(tmpdir(), 'scim-bridge-slapd-'));
  const suffix = 'dc=example,dc=org';
  const adminDN = `cn=admin,${suffix}`;
  const adminPassword = `slapd-${Math.random().toString(36).slice(2, 12)}`;
  let child: ChildProcess | undefined;
  try {
    const certificates = options.tls ? await makeTestCertificates(dir) : undefined;
    let port = await freePort();
    let ldapsPort = options.tls ? await freePort() : undefined;
    const dbDir = join(dir, 'db');
    mkdirSync(dbDir);
    const conf = join(dir, 'slapd.conf');
    writeFileSync(
      conf,
      [
        ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
        'modulepath /usr/lib/ldap',
        'moduleload back_mdb',
        'moduleload ppolicy',
        `pidfile ${join(dir, 'slapd.pid')}`,
        `argsfile ${join(dir, 'slapd.args')}`,
        ...(certificates
          ? [`TLSCACertificateFile ${certificates.caFile}`, `TLSCertificateFile ${certificates.certFile}`, `TLSCertificateKeyFile ${certificates.keyFile}`]
          : []),
        'database mdb',
        `suffix "${suffix}"`,
        `rootdn "${adminDN}"`,
        `rootpw ${adminPassword}`,
        `directory ${dbDir}`,
        'maxsize 67108864',
        'index objectClass eq',
        'index uid,cn,member eq',
        'overlay ppolicy',
        '',
      ].join('\n'),
    );
    const urls = (): string => [`ldap://127.0.0.1:${port}/`, ...(ldapsPort ? [`ldaps://127.0.0.1:${ldapsPort}/`] : [])].join(' ');
    let stderr = '';
    let exited: string | undefined;

    const launch = async (): Promise<void> => {
      stderr = '';
      exited = undefined;
      // -d 0: stay in the foreground, so the test owns the process and sees it die.
      const proc = spawn('slapd', ['-f', conf, '-h', urls(), '-u', 'root', '-g', 'root', '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      running.add(proc);
      proc.stderr!.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      proc.once('exit', (code, signal) => {
        running.delete(proc);
        exited = `slapd exited (${code ?? signal}): ${stderr.trim() || 'no output'}`;
      });
      await waitUntil(async () => (await portOpen(port)) && (ldapsPort === undefined || (await portOpen(ldapsPort))), 15_000, 'slapd start', () => exited);
    };

    const kill = async (): Promise<void> => {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
      await gone;
      clearTimeout(timer);
    };

    // A free port can be taken between our probe and slapd's bind: then try other ports.
    for (let attempt = 1; ; attempt++) {
      try {
        await launch();
        break;
      } catch (err) {
        await kill();
        if (attempt === 3) throw err;
        port = await freePort();
        if (ldapsPort !== undefined) ldapsPort = await freePort();
      }
    }
    const url = `ldap://127.0.0.1:${port}`;
    const client = async (): Promise<Client> => {
      const c = new Client({ url, timeout: 10_000, connectTimeout: 5_000 });
      await c.bind(adminDN, adminPassword);
      return c;
    };
    const peopleDN = `ou=people,${suffix}`;
    const groupsDN = `ou=groups,${suffix}`;
    const disabledDN = `ou=disabled,${suffix}`;
    const admin = await client();
    try {
      await admin.add(suffix, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' });
      for (const ou of ['people', 'groups', 'disabled']) await admin.add(`ou=${ou},${suffix}`, { objectClass: 'organizationalUnit', ou });
    } finally {
      await admin.unbind();
    }

    const server: Slapd = {
      url,
      suffix,
      adminDN,
      adminPassword,
      peopleDN,
      groupsDN,
      disabledDN,
      dir,
      client,
      async reset() {
        const c = await client();
        try {
          for (const base of [peopleDN, groupsDN, disabledDN]) {
            const { searchEntries } = await c.search(base, { scope: 'sub', attributes: ['1.1'] });
            // Deepest first: a parent cannot go before its children.
            const below = searchEntries.map((e) => e.dn).filter((dn) => dn.toLowerCase() !== base.toLowerCase());
            below.sort((a, b) => b.length - a.length);
            for (const dn of below) await c.del(dn);
          }
        } finally {
          await c.unbind();
        }
      },
      stop: kill,
      async start() {
        if (child) return;
        await launch();
      },
      async close() {
        await kill();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    if (ldapsPort) server.ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
    if (certificates) server.certificates = certificates;
    return server;
  } catch (err) {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
