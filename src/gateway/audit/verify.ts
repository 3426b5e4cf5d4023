/**
 * Verification of the whole chain, across rotated files and from the retention anchor: reads
 * only, so the CLI can run it beside a running gateway.
 */
import { decodeRecord, GENESIS_HASH } from './record.js';
import { forwardLines, openChain, type ChainSnapshot } from './files.js';

/** Outcome of `verify`: the record count, or the first broken record. */
export type VerifyResult =
  | { ok: true; records: number }
  | { ok: false; file: string; line: number; seq?: number; reason: string };

/**
 * Recomputes every hash and the chain of the audit files in a data dir. `activeLimit` bounds the
 * active file to the bytes the writer acknowledged, so an append in flight is not mistaken for damage.
 */
export async function verifyAuditLog(dataDir: string, activeLimit?: number): Promise<VerifyResult> {
  const snapshot = await openChain(dataDir, activeLimit);
  try {
    return await verifyChain(snapshot);
  } finally {
    await snapshot.close();
  }
}

/** Recomputes every hash and the chain of an opened snapshot. */
export async function verifyChain(snapshot: ChainSnapshot): Promise<VerifyResult> {
  const { anchor, files } = snapshot;
  let expectedSeq = anchor ? anchor.seq + 1 : 1;
  let prevHash = anchor ? anchor.hash : GENESIS_HASH;
  let records = 0;
  for (const file of files) {
    let lastLine = 0;
    let lastSeq: number | undefined;
    for await (const l of forwardLines(file.handle, file.limit)) {
      lastLine = l.lineNo;
      const fail = (reason: string, seq?: number): VerifyResult => ({ ok: false, file: file.name, line: l.lineNo, seq, reason });
      if (!l.complete) {
        return fail('incomplete last line: the file was cut short, or the gateway stopped mid-write (it removes such a line when it next starts)');
      }
      const d = decodeRecord(l.text);
      if (!d.ok) return fail(d.reason, d.seq);
      const r = d.record;
      if (lastSeq === undefined && !file.active && r.seq !== file.firstSeq) {
        return fail(`the file's name says it starts at seq ${file.firstSeq} but its first record is seq ${r.seq}`, r.seq);
      }
      if (r.seq > expectedSeq) {
        return fail(`seq ${r.seq} follows seq ${expectedSeq - 1}: ${r.seq - expectedSeq} record(s) before it were removed`, r.seq);
      }
      if (r.seq < expectedSeq) {
        return fail(`seq ${r.seq} is out of order (expected seq ${expectedSeq}): records were reordered or duplicated`, r.seq);
      }
      if (r.prevHash !== prevHash) {
        return fail('prevHash is not the hash of the previous record: the previous record was edited, or records were removed or reordered', r.seq);
      }
      prevHash = r.hash;
      lastSeq = r.seq;
      expectedSeq++;
      records++;
    }
    if (!file.active && lastSeq !== file.lastSeq) {
      const what = lastSeq === undefined ? 'has no records' : `ends at seq ${lastSeq}`;
      return { ok: false, file: file.name, line: lastLine + 1, seq: lastSeq, reason: `the file ${what} but its name says it ends at seq ${file.lastSeq}: it was truncated` };
    }
  }
  return { ok: true, records };
}
