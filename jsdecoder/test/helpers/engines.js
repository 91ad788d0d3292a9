// Test helpers shared by the engine tests (wasm.test.js, wasm_simd.test.js): a stream from the test
// encoder, one decode with an engine, and the check that wasm, js and the reference decoder agree on
// a (possibly corrupt) stream.
import assert from 'node:assert/strict';
import { decode } from '../../src/index.js';
import { decodeRans } from '../../src/rans.js';
import { decodeRansReference } from '../../src/reference.js';
import { buildModel, ransEncode } from './encoder.js';

export const bytesOf = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The model and the encoded stream of `values` at precision P with L lanes. */
export function stream(values, P, L) {
  const m = buildModel(values, P);
  const { states, words } = ransEncode(m.ids, m.freqs, m.cdf, P, L);
  return { m, model: { states: Uint32Array.from(states), words: Uint16Array.from(words), cdf: Uint16Array.from(m.cdf), P, n: values.length } };
}

/** decodeRans with `engine` into a fresh `Ctor` array: {out, status, wordsRead, lane, checksum, ...}. */
export function run(model, vocab, Ctor, engine) {
  const out = new Ctor(model.n);
  return { out, ...decodeRans(model, Ctor.from(vocab), out, engine) };
}

/**
 * wasm, js and the reference decoder give the same status on the stream `bad` for every integer
 * output width, and (unless it under-runs, where only the loops' stopping points differ) the same
 * words read, failing lane, checksum and output. Adds each status to `seen`.
 */
export function assertEnginesAgree(bad, vocab, label, seen) {
  for (const Ctor of [Int8Array, Int16Array, Int32Array]) {
    const what = `${label} ${Ctor.name}`;
    const wasm = run(bad, vocab, Ctor, 'wasm');
    const js = run(bad, vocab, Ctor, 'js');
    const ref = decodeRansReference(bad, vocab);
    assert.equal(wasm.status, js.status, what);
    assert.equal(wasm.status, ref.status, what);
    seen.add(wasm.status);
    if (wasm.status === 'underrun') {
      assert.ok(wasm.wordsRead > bad.words.length, what);
    } else {
      assert.equal(wasm.wordsRead, js.wordsRead, what);
      assert.equal(wasm.lane, js.lane, what);
      assert.equal(wasm.checksum, js.checksum, what);
      assert.ok(bytesOf(wasm.out).equals(bytesOf(js.out)), what);
    }
  }
}

/** The error fn() throws, or null. */
export function errorOf(fn) {
  try { fn(); } catch (e) { return e; }
  return null;
}

/** The error promise p rejects with, or null. */
export async function asyncErrorOf(p) {
  try { await p; } catch (e) { return e; }
  return null;
}

/** decode() of a whole file with every engine and option that changes the path taken: js, wasm, auto,
 * wasm with one stream at a time, js without checksums. */
export function decodeEveryEngine(bytes) {
  const results = [];
  for (const engine of ['js', 'wasm', 'auto']) results.push(decode(bytes, { engine }));
  results.push(decode(bytes, { engine: 'wasm', twoStreams: false }));
  results.push(decode(bytes, { engine: 'js', verify: false }));
  return results;
}
