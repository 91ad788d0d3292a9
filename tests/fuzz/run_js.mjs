// Fuzz-case runner for the JS decoder, driven by `python -m anspack.fuzz --js` (pyencoder/anspack/fuzz.py).
// Usage: node run_js.mjs DIR START
// DIR holds orig<i>.bin (the corpus), cases.bin and index.json; prints one JSON line per case from START:
// {"i": k, "outcome": "identical" | "rejected <code>" | "decoded (re-signed header)" | "FAIL ...", "message"?}
// A hang is detected by the Python side (no line within the per-case time limit).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, AnspackError } from '../../jsdecoder/src/index.js';

const [dir, startArg] = process.argv.slice(2);
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
const corpus = [];
for (let i = 0; i < index.corpus; i++) corpus.push(new Uint8Array(readFileSync(join(dir, `orig${i}.bin`))));
const originals = corpus.map((c) => decode(c));
const all = new Uint8Array(readFileSync(join(dir, 'cases.bin')));

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function bytesOf(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function sameTensors(x, y) {
  if (x.tensors.length !== y.tensors.length) return false;
  return x.tensors.every((t, k) => {
    const u = y.tensors[k];
    return t.name === u.name && t.dtype === u.dtype && t.shape.join() === u.shape.join()
      && sameBytes(bytesOf(t.data), bytesOf(u.data));
  });
}

const out = [];
for (let i = Number(startArg); i < index.cases.length; i++) {
  const c = index.cases[i];
  const data = all.slice(c.offset, c.offset + c.size);
  let r;
  try {
    const got = decode(data);
    let expected = originals[c.source];
    for (let k = 0; k < corpus.length; k++) if (sameBytes(data, corpus[k])) expected = originals[k];
    if (sameTensors(got, expected)) r = { i, outcome: 'identical' };
    else if (c.resigned) r = { i, outcome: 'decoded (re-signed header)' };
    else r = { i, outcome: 'FAIL differs', message: 'decoded without error to different tensors' };
  } catch (e) {
    if (e instanceof AnspackError) r = { i, outcome: `rejected ${e.code}` };
    else r = { i, outcome: `FAIL ${e && e.name}`, message: String(e && e.stack || e) };
  }
  process.stdout.write(JSON.stringify(r) + '\n');
}
