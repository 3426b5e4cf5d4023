// The keychain check's child process (keychain-store.ts runKeychainChild): load keytar, store a
// random probe value, read it back, delete it; for `list`, then collect the account names only
// (values stay here). One JSON report on stdout. Plain CommonJS so Node runs it as it is, and an
// Electron utility process can too: the desktop app never needs ELECTRON_RUN_AS_NODE for it.
'use strict';
const [modulePath, service, command, probeAccount] = process.argv.slice(2);
const done = (report) => process.stdout.write(JSON.stringify(report), () => process.exit(0));
(async () => {
  let keytar;
  try {
    keytar = require(modulePath);
  } catch (e) {
    return done({ ok: false, stage: 'load', message: String((e && e.message) || e) });
  }
  const nonce = require('node:crypto').randomBytes(16).toString('hex');
  await keytar.setPassword(service, probeAccount, nonce);
  const back = await keytar.getPassword(service, probeAccount);
  await keytar.deletePassword(service, probeAccount);
  if (back !== nonce) return done({ ok: false, stage: 'keychain', message: 'the keychain did not return the value just stored in it' });
  if (command !== 'list') return done({ ok: true });
  const found = await keytar.findCredentials(service);
  done({ ok: true, accounts: found.map((c) => c.account) });
})().catch((e) => done({ ok: false, stage: 'keychain', message: String((e && e.message) || e) }));
