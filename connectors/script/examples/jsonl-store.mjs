#!/usr/bin/env node
// Example script for the scim-bridge `script` connector: keeps users and groups in JSON Lines
// files (users.jsonl, groups.jsonl) in the directory $JSONL_STORE_DIR. Copy it as a starting
// point and replace the storage functions with calls to your own system.
//
// Protocol (connectors/script/README.md):
//   stdin   one JSON object: { "operation": "createUser", "user": {...}, "key": ..., "operationId": ..., "attempt": ... }
//   stdout  JSON, e.g. { "key": "u-..." }; listUsers prints one { "key", "user" } per line (JSON Lines)
//   exit    0 done, 75 try again later, 67 no such entry, anything else refused (stderr says why)
//
// Secrets arrive in environment variables (SCRIPT_API_KEY here), never in arguments. If the store
// directory holds a file named .access-key, SCRIPT_API_KEY must match its content.
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const EX_USAGE = 64; // unknown operation
const EX_DATAERR = 65; // the input is not what this script understands
const EX_NOUSER = 67; // no entry with that key
const EX_TEMPFAIL = 75; // try again later: the connector retries
const EX_NOPERM = 77; // the credentials were refused

/** Thrown rather than process.exit(), so that the lock is released on the way out. */
class Exit extends Error {
  constructor(code, message) {
    super(message);
    this.exitCode = code;
  }
}
const fail = (code, message) => {
  throw new Exit(code, message);
};

const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return fail(EX_DATAERR, 'stdin is not JSON');
  }
}

/** The store: JSON Lines files, each rewritten atomically (temp file, fsync, rename). */
function openStore(dir) {
  const usersFile = join(dir, 'users.jsonl');
  const groupsFile = join(dir, 'groups.jsonl');
  const lockDir = join(dir, '.lock');

  const read = (file) =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter((line) => line.trim())
          .map((line) => JSON.parse(line))
      : [];
  const write = (file, records) => {
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    writeSync(fd, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  };

  return {
    users: () => read(usersFile),
    groups: () => read(groupsFile),
    saveUsers: (records) => write(usersFile, records),
    saveGroups: (records) => write(groupsFile, records),
    /** The connector may run several copies at once (maxConcurrent): one writer at a time. */
    async locked(fn) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          mkdirSync(lockDir);
          break;
        } catch (err) {
          if (err.code !== 'EEXIST') fail(EX_TEMPFAIL, `cannot lock ${lockDir}: ${err.code}`);
          // Older than 30 s: left by a run that was killed on timeout.
          try {
            if (Date.now() - statSync(lockDir).mtimeMs > 30_000) rmdirSync(lockDir);
          } catch {
            // removed meanwhile
          }
          if (Date.now() > deadline) fail(EX_TEMPFAIL, `${lockDir} is held by another run`);
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      try {
        return fn();
      } finally {
        rmdirSync(lockDir);
      }
    },
  };
}

const publicUser = (u) => ({ userName: u.userName, active: u.active, ...(u.externalId ? { externalId: u.externalId } : {}), attributes: u.attributes });

function applyUser(record, user) {
  return Object.assign(record, { scimId: user.scimId, externalId: user.externalId ?? null, userName: user.userName, active: user.active, attributes: user.attributes });
}

function operations(store, dir) {
  const updateUser = ({ key, user }) =>
    store.locked(() => {
      const users = store.users();
      const record = users.find((u) => u.key === key);
      if (!record) fail(EX_NOUSER, `no user ${key}`);
      applyUser(record, user);
      store.saveUsers(users);
      print({ key });
    });
  const group = (groups, key) => groups.find((g) => g.key === key) ?? fail(EX_NOUSER, `no group ${key}`);

  return {
    test() {
      print({ message: `store ${dir}: ${store.users().length} user(s), ${store.groups().length} group(s)` });
    },

    // Idempotent: the same user (by SCIM id) again updates it and prints the same key.
    createUser: ({ user }) =>
      store.locked(() => {
        const users = store.users();
        const clash = users.find((u) => u.userName.toLowerCase() === user.userName.toLowerCase() && u.scimId !== user.scimId);
        if (clash) fail(1, `userName "${user.userName}" belongs to another account (${clash.key})`);
        let record = users.find((u) => u.scimId === user.scimId);
        if (!record) users.push((record = { key: `u-${randomUUID()}` }));
        applyUser(record, user);
        store.saveUsers(users);
        print({ key: record.key });
      }),
    updateUser,
    deactivateUser: updateUser,
    reactivateUser: updateUser,

    deleteUser: ({ key }) =>
      store.locked(() => {
        const users = store.users();
        if (!users.some((u) => u.key === key)) fail(EX_NOUSER, `no user ${key}`);
        store.saveUsers(users.filter((u) => u.key !== key));
        const groups = store.groups();
        if (groups.some((g) => g.members.includes(key))) store.saveGroups(groups.map((g) => ({ ...g, members: g.members.filter((m) => m !== key) })));
      }),

    upsertGroup: ({ key, group: g }) =>
      store.locked(() => {
        const groups = store.groups();
        let record = key && groups.find((x) => x.key === key);
        if (!record) groups.push((record = { key: key ?? `g-${randomUUID()}`, members: [] }));
        Object.assign(record, { scimId: g.scimId, displayName: g.displayName });
        store.saveGroups(groups);
        print({ key: record.key });
      }),

    deleteGroup: ({ key }) =>
      store.locked(() => {
        const groups = store.groups();
        group(groups, key);
        store.saveGroups(groups.filter((g) => g.key !== key));
      }),

    addMembers: ({ key, memberKeys }) =>
      store.locked(() => {
        const groups = store.groups();
        const g = group(groups, key);
        for (const m of memberKeys) if (!g.members.includes(m)) g.members.push(m);
        store.saveGroups(groups);
      }),

    removeMembers: ({ key, memberKeys }) =>
      store.locked(() => {
        const groups = store.groups();
        const g = group(groups, key);
        g.members = g.members.filter((m) => !memberKeys.includes(m));
        store.saveGroups(groups);
      }),

    listUsers() {
      for (const u of store.users()) print({ key: u.key, user: publicUser(u) });
    },

    findUser({ query }) {
      const users = store.users();
      const found =
        query.userName !== undefined
          ? users.find((u) => u.userName.toLowerCase() === String(query.userName).toLowerCase())
          : users.find((u) => u.externalId && u.externalId === query.externalId);
      print(found ? { key: found.key, user: publicUser(found) } : {});
    },
  };
}

async function main() {
  const dir = process.env.JSONL_STORE_DIR;
  if (!dir) fail(EX_DATAERR, 'JSONL_STORE_DIR is not set (add it to the connector config "env")');
  // A missing directory is an unmounted share or a store being restored: worth retrying.
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(EX_TEMPFAIL, `store directory ${dir} is not available`);

  const keyFile = join(dir, '.access-key');
  if (existsSync(keyFile)) {
    const expected = Buffer.from(readFileSync(keyFile, 'utf8').trim());
    const given = Buffer.from(process.env.SCRIPT_API_KEY ?? '');
    // Never print either value.
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) fail(EX_NOPERM, 'SCRIPT_API_KEY was refused');
  }

  const request = await readStdin();
  const handler = operations(openStore(dir), dir)[request.operation];
  if (!handler) fail(EX_USAGE, `unknown operation "${request.operation}"`);
  await handler(request);
}

try {
  await main();
} catch (err) {
  if (!(err instanceof Exit)) throw err; // a bug: node prints the stack and exits 1 (refused)
  process.stderr.write(`jsonl-store: ${err.message}\n`);
  process.exitCode = err.exitCode;
}
