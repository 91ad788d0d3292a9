// Spec revision 3 (spec/FORMAT.md section 7.3): PRODUCT pairs. The block stores the model of the
// entries (V values of 1 byte, their CDF); the decoder derives the model of the V^2 pair ids from it.
// - header.js derivePairModel (fast: the fix-up's d > 0 passes computed in one go) == reference.js
//   derivePairModelReference (the spec's steps, pass by pass), on random and adversarial entry models.
// - Files of the test encoder (written from the spec alone) decode to their entries with every engine
//   (js, wasm: scalar loops for L <= 4, the SIMD loop decodeV for L >= 5, the two-chunk loop
//   rans_pair.wat for K >= 2 and L a multiple of 4; 'auto'), with the reference decoder (fed the
//   file's stored entry model, deriving its own pair model), on int8 and uint8, L = 1..9 and larger,
//   P from the smallest that fits V^2 up to 15, chunked and unchunked, and with decodeAsync workers.
// - One bad file per new rule (section 13 rule 7): the same code, byte offset, message and tensor on
//   every engine, decodeAsync and decodeStream; the golden bad vectors of tests/vectors/bad/ at their
//   fields' offsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decode, decodeTensor, decodeAsync, decodeStream, readHeader, AnspackError } from '../src/index.js';
import { parseHeader, ransArrays, derivePairModel } from '../src/header.js';
import { decodeTensorReference, derivePairModelReference } from '../src/reference.js';
import { encodeFile, fxhash26Ref, rng } from './helpers/encoder.js';
import { errorOf, asyncErrorOf, decodeEveryEngine } from './helpers/engines.js';

const VECTORS = new URL('../../tests/vectors/', import.meta.url);
const ARRAYS = { int8: Int8Array, uint8: Uint8Array };
const bytesOf = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** n entries of a 1-byte dtype with V distinct values (all present when n allows), skewed counts. */
function entries(r, n, V, dtype) {
  const lo = dtype === 'int8' ? -Math.floor(V / 2) : 0;
  const pool = Array.from({ length: V }, (_, i) => lo + i);
  for (let i = V - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [pool[i], pool[j]] = [pool[j], pool[i]]; }
  const out = Array.from({ length: n }, () => pool[Math.min(V - 1, Math.floor(Math.abs(r() + r() + r() - 1.5) * V / 1.5))]);
  for (let i = 0; i < Math.min(V, n); i++) out[Math.floor(r() * n)] = pool[i];
  return out;
}

/** The stored entry model of a PRODUCT tensor, read from the file's bytes (spec section 7 layout). */
function storedModel(bytes, t) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cdf = Array.from({ length: t.vocabSize + 1 }, (_, s) => dv.getUint16(t.cdfOffset + 2 * s, true));
  const values = Array.from({ length: t.vocabSize }, (_, s) => (t.dtype === 'int8' ? dv.getInt8(t.valuesOffset + s) : dv.getUint8(t.valuesOffset + s)));
  return { cdf, values };
}

/** The reference decoder on a PRODUCT tensor: states, words and chunk tables from the file, the
 * stored entry model, its own derivation of the pair model. */
function reference(bytes, name) {
  const hdr = parseHeader(bytes, { verify: false });
  const t = hdr.tensors.find((x) => x.name === name);
  const m = ransArrays(hdr.bytes, t);
  const stored = storedModel(hdr.bytes, t);
  return decodeTensorReference({ ...m, cdf: stored.cdf, words: Array.from(m.words).slice(0, t.words) }, stored.values,
    { product: true, signed: t.dtype === 'int8' });
}

const same = (e) => [e.code, e.offset, e.tensor, e.message];

/** Decode a file of PRODUCT tensors with every engine and the reference: all equal the entries. */
function checkFile(bytes, tensors, label) {
  const info = readHeader(bytes).tensors;
  const results = decodeEveryEngine(bytes);
  tensors.forEach((t, i) => {
    const want = bytesOf(ARRAYS[t.dtype].from(t.data));
    assert.equal(info[i].product, true, label);
    assert.equal(info[i].pairs, true, label);
    assert.equal(info[i].symbols, t.data.length / 2, label);
    for (const r of results) {
      assert.ok(bytesOf(r.tensors[i].data).equals(want), `${label} ${t.name}`);
      assert.equal(r.tensors[i].checksum, info[i].checksum, `${label} ${t.name}`);
    }
    // an output at an odd byte offset (decoded through a copy)
    const big = new (ARRAYS[t.dtype])(t.data.length + 2);
    const odd = big.subarray(1, 1 + t.data.length);
    assert.ok(bytesOf(decodeTensor(bytes, t.name, { engine: 'wasm', out: odd }).data).equals(want), `${label} ${t.name} odd out`);
    const ref = reference(bytes, t.name);
    assert.equal(ref.status, 'ok', label);
    assert.deepEqual(ref.entries, Array.from(t.data), `${label} ${t.name} reference`);
    assert.equal(ref.checksum, info[i].checksum, `${label} ${t.name} reference checksum`);
  });
}

/** The smallest P with V^2 <= 2^P (at least 1). */
const minP = (V) => Math.max(1, Math.ceil(Math.log2(V * V)));

// ---------------------------------------------------------------------------------------------
// The derived pair model.

/** V positive frequencies summing to 2^P, of a given shape. */
function entryFreqs(r, V, P, kind) {
  const M = 2 ** P;
  const g = new Array(V).fill(1);
  let left = M - V;
  if (kind === 'one-big') g[Math.floor(r() * V)] += left;            // one entry holds almost all
  else if (kind === 'uniform') for (let a = 0; left > 0; a = (a + 1) % V, left--) g[a]++;
  else if (kind === 'two-big') { g[0] += Math.floor(left / 2); g[V - 1] += left - Math.floor(left / 2); }
  else {
    const w = Array.from({ length: V }, () => r() ** 3);
    const s = w.reduce((x, y) => x + y, 0);
    let used = 0;
    for (let a = 0; a < V; a++) { const x = Math.floor((w[a] / s) * left); g[a] += x; used += x; }
    for (let a = 0; used < left; a = (a + 1) % V, used++) g[a]++;
  }
  const cdf = [0];
  for (const x of g) cdf.push(cdf[cdf.length - 1] + x);
  return cdf;
}

test('derivePairModel == the spec transcription (reference): every P, V up to sqrt(2^P), random and adversarial entry models', () => {
  const r = rng(7);
  let checked = 0, fixUps = { pos: 0, neg: 0 };
  for (let P = 1; P <= 15; P++) {
    const Vmax = Math.floor(Math.sqrt(2 ** P));
    const Vs = [...new Set([1, 2, 3, Vmax, Math.max(1, Vmax - 1), 1 + Math.floor(r() * Vmax), 1 + Math.floor(r() * Vmax)])].filter((v) => v <= Vmax);
    for (const V of Vs) {
      for (const kind of ['random', 'random', 'one-big', 'uniform', 'two-big']) {
        // the reference replays the fix-up pass by pass: ~2^(2P) steps for 'one-big' at V = Vmax
        if (kind === 'one-big' && P > 12 && V > 16) continue;
        const cdf = entryFreqs(r, V, P, kind);
        const values = Array.from({ length: V }, (_, a) => (a * 37 + 200) % 256);
        const fast = derivePairModel(Uint16Array.from(cdf), Uint8Array.from(values), P);
        const ref = derivePairModelReference(cdf, values, P);
        assert.deepEqual(Array.from(fast.cdf), ref.cdf, `P=${P} V=${V} ${kind}`);
        assert.deepEqual(Array.from(fast.vals), ref.values, `P=${P} V=${V} ${kind}`);
        assert.equal(fast.cdf.length, V * V + 1);
        assert.equal(fast.cdf[V * V], 2 ** P);
        for (let s = 0; s < V * V; s++) assert.ok(fast.cdf[s + 1] > fast.cdf[s]);
        // which branch of step 3 ran (the test must reach both)
        let sum = 0;
        for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) {
          const c = (cdf[a + 1] - cdf[a]) * (cdf[b + 1] - cdf[b]);
          const q = Math.floor(c / 2 ** P), rem = c % 2 ** P;
          sum += Math.max(1, 2 * rem > 2 ** P || (2 * rem === 2 ** P && q % 2 === 1) ? q + 1 : q);
        }
        if (sum > 2 ** P) fixUps.pos++;
        if (sum < 2 ** P) fixUps.neg++;
        checked++;
      }
    }
  }
  assert.ok(checked > 300, `${checked} models`);
  assert.ok(fixUps.pos > 20 && fixUps.neg > 20, JSON.stringify(fixUps));
});

test('derivePairModel: the one-big models at P = 13..15, V = sqrt(2^P) (many fix-up passes) are valid CDFs; the same at P = 12 as the reference', () => {
  for (const P of [12, 13, 14, 15]) {
    const V = Math.floor(Math.sqrt(2 ** P));
    const g = new Array(V).fill(1);
    g[0] += 2 ** P - V;
    const cdf = [0];
    for (const x of g) cdf.push(cdf[cdf.length - 1] + x);
    const fast = derivePairModel(Uint16Array.from(cdf), new Uint8Array(V), P);
    assert.equal(fast.cdf[V * V], 2 ** P);
    for (let s = 0; s < V * V; s++) assert.ok(fast.cdf[s + 1] > fast.cdf[s], `P=${P} s=${s}`);
    // pair (0, 0) keeps what the other V^2 - 1 pairs (frequency 1 each) leave
    assert.equal(fast.cdf[1], 2 ** P - (V * V - 1), `P=${P}`);
    if (P === 12) assert.deepEqual(Array.from(fast.cdf), derivePairModelReference(cdf, new Array(V).fill(0), P).cdf);
  }
});

test('the spec\'s rounding on a small example, by hand: V = 2, P = 3, g = [5, 3]', () => {
  // c = [25, 15, 15, 9] / 8 = 3.125, 1.875, 1.875, 1.125 -> [3, 2, 2, 1], sum 8: no fix-up.
  assert.deepEqual(derivePairModelReference([0, 5, 8], [7, -1], 3).cdf, [0, 3, 5, 7, 8]);
  assert.deepEqual(Array.from(derivePairModel(Uint16Array.of(0, 5, 8), Uint8Array.of(7, 255), 3).cdf), [0, 3, 5, 7, 8]);
  // pair values: low byte entry a, high byte entry b
  assert.deepEqual(Array.from(derivePairModel(Uint16Array.of(0, 5, 8), Uint8Array.of(7, 255), 3).vals), [0x0707, 0xff07, 0x07ff, 0xffff]);
  // g = [1, 7] at P = 3: c = [1, 7, 7, 49] / 8 -> [0 -> 1, 1 (0.875), 1, 6 (6.125)] = 9: d = 1, taken
  // from the first id above 1 in order: id 3.
  assert.deepEqual(derivePairModelReference([0, 1, 8], [0, 1], 3).cdf, [0, 1, 2, 3, 8]);
  assert.deepEqual(Array.from(derivePairModel(Uint16Array.of(0, 1, 8), Uint8Array.of(0, 1), 3).cdf), [0, 1, 2, 3, 8]);
  // halves round to even: g = [2, 2] at P = 2: c = 4 / 4 = 1 each; g = [1, 3] at P = 2: c = [1, 3, 3, 9]
  // / 4 = 0.25 -> 1, 0.75 -> 1, 1, 2.25 -> 2: sum 5, d = 1 -> id 3 -> [1, 1, 1, 1]
  assert.deepEqual(derivePairModelReference([0, 1, 4], [0, 1], 2).cdf, [0, 1, 2, 3, 4]);
  assert.deepEqual(Array.from(derivePairModel(Uint16Array.of(0, 1, 4), Uint8Array.of(0, 1), 2).cdf), [0, 1, 2, 3, 4]);
});

// ---------------------------------------------------------------------------------------------
// Round trips.

// L = 1..9 and larger; for each, P from the smallest that fits V^2 up to 15; unchunked, K = 2 and
// K = 3 (rans_pair for L a multiple of 4, with a short last chunk), int8 and uint8.
for (const L of [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 32]) {
  test(`product pairs L=${L}: every engine and the reference, unchunked and K = 2, 3, P from the minimum to 15`, () => {
    const r = rng(L * 7919);
    for (const V of [1, 2, 3, 9, 16, 40]) {
      const Pm = minP(V);
      const Ps = [...new Set([Pm, Math.min(15, Pm + 1), Math.max(Pm, 12), 15])];
      for (const P of Ps) {
        for (const K of [1, 2, 3]) {
          const dtype = (L + V + P + K) % 2 ? 'int8' : 'uint8';
          const Q = K === 1 ? 0 : L * (3 + Math.floor(r() * 5)) + (P % 3 === 0 ? 1 : 0);
          const N = K === 1 ? L * (20 + Math.floor(r() * 30)) + Math.floor(r() * L) : (K - 1) * Q + 1 + Math.floor(r() * Q);
          const data = entries(r, 2 * N, V, dtype);
          const tensors = [{ name: 'w', dtype, shape: [2 * N], data, lanes: L, precision: P, product: true, chunk: Q }];
          const bytes = encodeFile(tensors);
          const t = readHeader(bytes).tensors[0];
          assert.equal(t.chunks, K);
          assert.equal(t.vocabSize, new Set(data).size);
          checkFile(bytes, tensors, `L=${L} V=${V} P=${P} K=${K} ${dtype}`);
        }
      }
    }
  });
}

test('larger tensors: K = 100 chunks at L = 8, a 2^17-symbol stream at L = 16, V = 181 at P = 15', () => {
  const r = rng(99);
  const cases = [
    { name: 'k100', dtype: 'int8', n: 2 * (99 * 64 + 17), V: 16, P: 12, L: 8, chunk: 64 },
    { name: 'long', dtype: 'uint8', n: 2 ** 18, V: 9, P: 14, L: 16, chunk: 0 },
    { name: 'wide', dtype: 'uint8', n: 40000, V: 181, P: 15, L: 8, chunk: 5000 },
    { name: 'const', dtype: 'int8', n: 3000, V: 1, P: 1, L: 8, chunk: 300 },
  ];
  const tensors = cases.map((c) => ({ name: c.name, dtype: c.dtype, shape: [c.n], data: entries(r, c.n, c.V, c.dtype), lanes: c.L, precision: c.P, product: true, chunk: c.chunk }));
  const bytes = encodeFile(tensors);
  assert.deepEqual(readHeader(bytes).tensors.map((t) => [t.vocabSize, t.chunks]), [[16, 100], [9, 1], [181, 4], [1, 5]]);
  checkFile(bytes, tensors, 'larger');
});

test('a product file and the plain-pairs file of the same entries decode to the same data; the product block is smaller', () => {
  const r = rng(5);
  const data = entries(r, 4000, 16, 'int8');
  const mk = (o) => encodeFile([{ name: 'w', dtype: 'int8', shape: [4000], data, lanes: 8, precision: 12, ...o }]);
  const prod = mk({ product: true }), plain = mk({ pairs: true });
  const a = readHeader(prod).tensors[0], b = readHeader(plain).tensors[0];
  assert.equal(a.product, true);
  assert.equal(b.product, false);
  assert.equal(b.pairs, true);
  assert.equal(a.vocabSize, 16);
  assert.ok(b.vocabSize > 100, `${b.vocabSize} pair values`);
  assert.ok(a.dataSize < b.dataSize, `${a.dataSize} vs ${b.dataSize}`);
  assert.deepEqual(Array.from(decode(prod).tensors[0].data), Array.from(decode(plain).tensors[0].data));
  // the checksum hashes pair ids (a*V + b), not pair values: it differs from plain pairs' ids
  const ids = [];
  const vocab = storedModel(parseHeader(prod).bytes, parseHeader(prod).tensors[0]).values;
  for (let t = 0; t < 2000; t++) ids.push(vocab.indexOf(data[2 * t]) * 16 + vocab.indexOf(data[2 * t + 1]));
  assert.equal(a.checksum, fxhash26Ref(ids));
});

test('decodeAsync (workers, chunks split over them) and decodeStream equal decode() on product files', async () => {
  const r = rng(11);
  const bytes = encodeFile([
    { name: 'big', dtype: 'int8', shape: [2 * 6000], data: entries(r, 12000, 16, 'int8'), lanes: 8, precision: 12, product: true, chunk: 500 },
    { name: 'odd', dtype: 'uint8', shape: [3002], data: entries(r, 3002, 5, 'uint8'), lanes: 5, precision: 5, product: true, chunk: 111 },
    { name: 'one', dtype: 'uint8', shape: [600], data: entries(r, 600, 3, 'uint8'), lanes: 3, precision: 4, product: true },
  ]);
  const want = decode(bytes).tensors;
  for (const workers of [1, 2, 3]) {
    const got = (await decodeAsync(bytes, { workers })).tensors;
    got.forEach((g, i) => {
      assert.equal(g.checksum, want[i].checksum);
      assert.ok(bytesOf(g.data).equals(bytesOf(want[i].data)), `${g.name} workers=${workers}`);
    });
  }
  for (const options of [{}, { workers: 2 }]) {
    const got = [];
    for await (const t of decodeStream(new Blob([bytes]).stream(), options)) got.push(t);
    got.forEach((g, i) => assert.ok(bytesOf(g.data).equals(bytesOf(want[i].data)), `${g.name} stream`));
  }
});

// ---------------------------------------------------------------------------------------------
// Bad files: one per rule, the same error from every decoder.

function refresh(bytes) {
  // header checksum and block checksums made consistent, so that the intended error is raised
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let tensors = [];
  try { tensors = parseHeader(bytes, { verify: false }).tensors; } catch (e) { /* structural error first anyway */ }
  for (const t of tensors) {
    const side = t.coding === 'rans' ? t.dataSize - 2 * t.words : 0;
    dv.setUint32(t.entryOffset + 44, fxhash26Ref(bytes.subarray(t.dataOffset, t.dataOffset + side)), true);
  }
  const metaEnd = 40 + dv.getUint32(28, true) + dv.getUint32(32, true);
  const head = bytes.slice(0, metaEnd);
  head.fill(0, 36, 40);
  dv.setUint32(36, fxhash26Ref(head), true);
  return bytes;
}

function mutate(bytes, fn, fix = true) {
  const b = bytes.slice();
  fn(new DataView(b.buffer), b);
  return fix ? refresh(b) : b;
}

/** decode (js, wasm), decodeAsync (1, 2 workers) and decodeStream all throw the same error. */
async function expectError(bytes, code, offset, pattern, tensor = 'w') {
  const want = errorOf(() => decode(bytes, { engine: 'js' }));
  assert.ok(want instanceof AnspackError, `no AnspackError: ${want}`);
  assert.equal(want.code, code, want.message);
  if (offset !== null) assert.equal(want.offset, offset, want.message);
  if (pattern) assert.match(want.message, pattern);
  assert.match(want.message, /byte offset \d+/);
  assert.equal(want.tensor, tensor, want.message);
  assert.deepEqual(same(errorOf(() => decode(bytes, { engine: 'wasm' }))), same(want));
  for (const workers of [1, 2]) assert.deepEqual(same(await asyncErrorOf(decodeAsync(bytes, { workers }))), same(want), `workers=${workers}`);
  const streamed = await asyncErrorOf((async () => { for await (const t of decodeStream(new Blob([bytes]).stream())) void t; })());
  assert.deepEqual([streamed.code, streamed.offset, streamed.tensor], [want.code, want.offset, want.tensor]);
}

const r9 = rng(9);
const baseData = entries(r9, 2 * 90, 7, 'int8'); // V = 7: 7 value bytes, one padding byte
const base = encodeFile([
  { name: 'w', dtype: 'int8', shape: [180], data: baseData, lanes: 4, precision: 8, product: true, chunk: 20 },
  { name: 'z', dtype: 'int8', shape: [12], data: entries(r9, 12, 3, 'int8'), lanes: 2, precision: 6 },
]);
const T = parseHeader(base).tensors[0];
const O = T.dataOffset;
const CK = T.chunkTableOffset + 4 * T.chunks;

test('the base product file decodes; its layout: 7 one-byte values, a padding byte, 8 CDF values', () => {
  assert.equal(T.product, true);
  assert.equal(T.vocabSize, 7);
  assert.equal(T.chunks, 5);
  assert.equal(T.cdfOffset, T.valuesOffset + 8);
  assert.equal(T.wordsOffset, T.cdfOffset + 16);
  assert.deepEqual(Array.from(decode(base).tensors[0].data), baseData);
});

test('PRODUCT without PAIRS -> BadModel at the mode byte (on an unpaired tensor and on this one)', async () => {
  const z = parseHeader(base).tensors[1];
  await expectError(mutate(base, (dv, b) => { b[z.dataOffset + 17] = 2; }), 'BadModel', z.dataOffset + 17, /PRODUCT \(bit 1\) is allowed only together with PAIRS/, 'z');
  await expectError(mutate(base, (dv, b) => { b[O + 17] = 2; }), 'BadModel', O + 17, /only together with PAIRS/);
});

test('V^2 > 2^P -> BadModel at the V field (block offset 0)', async () => {
  // P = 5: V = 7 <= 32 but V^2 = 49 > 32
  await expectError(mutate(base, (dv, b) => { b[O + 16] = 5; }), 'BadModel', O, /V\^2 = 49 must be at most 2\^P = 32/);
  // P = 6 fits (49 <= 64): then it is the CDF that is wrong (cdf[V] = 256, not 64)
  await expectError(mutate(base, (dv, b) => { b[O + 16] = 6; }), 'BadModel', T.cdfOffset + 2 * 7, /cdf\[V\] is 256, expected 2\^P = 64/);
});

test('mode bits 2-7 with PRODUCT -> ReservedNonZero at the mode byte', async () => {
  for (const mode of [3 | 4, 3 | 0x80, 0xff]) await expectError(mutate(base, (dv, b) => { b[O + 17] = mode; }), 'ReservedNonZero', O + 17, /reserved bits 2-7/);
});

test('PRODUCT on an int16 tensor or an odd n -> BadModel at the mode byte', async () => {
  const f16 = encodeFile([{ name: 'w', dtype: 'int16', shape: [20], data: entries(r9, 20, 3, 'int8'), lanes: 2 }]);
  const o16 = parseHeader(f16).tensors[0].dataOffset;
  await expectError(mutate(f16, (dv, b) => { b[o16 + 17] = 3; }), 'BadModel', o16 + 17, /1-byte dtype/);
  const odd = encodeFile([{ name: 'w', dtype: 'uint8', shape: [21], data: entries(r9, 21, 3, 'uint8'), lanes: 2 }]);
  const oo = parseHeader(odd).tensors[0].dataOffset;
  await expectError(mutate(odd, (dv, b) => { b[oo + 17] = 3; }), 'BadModel', oo + 17, /n = 21/);
});

test('the entry model is checked like any model: padding byte, CDF, data_size with item = 1', async () => {
  await expectError(mutate(base, (dv, b) => { b[T.cdfOffset - 1] = 1; }), 'ReservedNonZero', T.cdfOffset - 1, /padding/);
  await expectError(mutate(base, (dv) => dv.setUint16(T.cdfOffset + 4, dv.getUint16(T.cdfOffset + 2, true), true)), 'BadModel', T.cdfOffset + 4);
  // plain PAIRS on this block (item = 2): the size formula no longer holds
  await expectError(mutate(base, (dv, b) => { b[O + 17] = 1; }), 'BadModel', T.entryOffset + 8, /data_size/);
  // a changed entry value: the block checksum (not refreshed)
  await expectError(mutate(base, (dv, b) => { b[T.valuesOffset] ^= 0x40; }, false), 'ChecksumMismatch', T.entryOffset + 44, /block_checksum/);
});

test('checksums over pair ids: a wrong chunk checksum, a wrong table checksum; verify: false decodes', async () => {
  const bad = mutate(base, (dv) => dv.setUint32(CK + 8, dv.getUint32(CK + 8, true) ^ 0x10, true));
  await expectError(bad, 'ChecksumMismatch', CK + 8, /chunk 2's ids/);
  assert.deepEqual(Array.from(decode(bad, { verify: false }).tensors[0].data), baseData);
  await expectError(mutate(base, (dv) => dv.setUint32(T.entryOffset + 32, dv.getUint32(T.entryOffset + 32, true) ^ 1, true)), 'ChecksumMismatch', T.entryOffset + 32);
});

test('random corruptions of the words: every engine gives the reference decoder\'s verdict, the same error everywhere', async () => {
  const r = rng(31);
  let corrupt = 0;
  for (let trial = 0; trial < 60; trial++) {
    const at = T.wordsOffset + Math.floor(r() * 2 * T.words);
    const bad = mutate(base, (dv, b) => { b[at] ^= 1 + Math.floor(r() * 255); }, false);
    const ref = reference(bad, 'w');
    const stored = new DataView(bad.buffer);
    const chunksOk = ref.status === 'ok' && ref.checksums.every((c, k) => c === stored.getUint32(CK + 4 * k, true));
    const want = ref.status !== 'ok' ? 'CorruptStream' : chunksOk ? 'ok' : 'ChecksumMismatch';
    const js = errorOf(() => decode(bad, { engine: 'js' }));
    assert.equal(js ? js.code : 'ok', want, `trial ${trial}`);
    if (js) {
      corrupt++;
      assert.match(js.message, new RegExp(`chunk ${ref.chunk >= 0 ? ref.chunk : '\\d'}`));
      assert.deepEqual(same(errorOf(() => decode(bad, { engine: 'wasm' }))), same(js), `trial ${trial}`);
      assert.deepEqual(same(await asyncErrorOf(decodeAsync(bad, { workers: 2 }))), same(js), `trial ${trial} async`);
    }
  }
  assert.ok(corrupt > 50, `${corrupt} of 60 detected`);
});

// ---------------------------------------------------------------------------------------------
// The golden vectors written by the Python encoder (tests/vectors/make_vectors.py).

/** The data offset of the tensor `name` of a file, from its table (which is valid in the bad vectors). */
function dataOffsetOf(bytes, name) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 40;
  for (let i = 0; i < dv.getUint32(24, true); i++) {
    const ndim = bytes[p + 38], len = dv.getUint16(p + 40, true);
    const nameAt = p + 48 + 8 * ndim;
    if (new TextDecoder().decode(bytes.subarray(nameAt, nameAt + len)) === name) return dv.getUint32(p, true);
    p = nameAt + Math.ceil(len / 8) * 8;
  }
  throw new Error(`no tensor ${name}`);
}

test('golden product vectors: every engine, decodeAsync and the reference give the JSON\'s entries', async () => {
  for (const file of ['product', 'product_chunks']) {
    const bytes = new Uint8Array(readFileSync(new URL(`${file}.anspack`, VECTORS)));
    const expected = JSON.parse(readFileSync(new URL(`${file}.json`, VECTORS), 'utf8'));
    const info = readHeader(bytes).tensors;
    assert.ok(info.some((t) => t.product), `${file} has PRODUCT tensors`);
    if (file === 'product_chunks') assert.ok(info.some((t) => t.product && t.chunks > 1), 'a chunked PRODUCT tensor');
    const decoded = [decode(bytes, { engine: 'js' }), decode(bytes, { engine: 'wasm' }), decode(bytes, { engine: 'wasm', twoStreams: false }), await decodeAsync(bytes, { workers: 2 })];
    expected.tensors.forEach((e, i) => {
      assert.equal(info[i].product, e.product ?? false, e.name);
      for (const d of decoded) {
        const t = d.tensors[i];
        assert.equal(t.checksum, e.checksum, e.name);
        if (e.data) assert.deepEqual(Array.from(t.data), e.data, `${file} ${e.name}`);
      }
      if (info[i].product) {
        assert.equal(info[i].vocabSize, e.vocab_size);
        const ref = reference(bytes, e.name);
        assert.equal(ref.status, 'ok');
        assert.deepEqual(ref.entries, e.data, `${file} ${e.name} reference`);
        assert.equal(ref.checksum, e.checksum);
      }
    });
  }
});

test('golden bad vectors of revision 3: the field\'s offset, the same error from every decoder', async () => {
  const index = JSON.parse(readFileSync(new URL('bad/index.json', VECTORS), 'utf8'));
  const cases = [
    ['product_without_pairs', 'BadModel', 17, /only together with PAIRS/],
    ['product_vocab_too_big', 'BadModel', 0, /V\^2 = \d+ must be at most 2\^P/],
    ['mode_reserved_bit', 'ReservedNonZero', 17, /reserved bits 2-7/],
  ];
  for (const [name, code, field, pattern] of cases) {
    assert.equal(index[name], code, name);
    const bytes = new Uint8Array(readFileSync(new URL(`bad/${name}.anspack`, VECTORS)));
    const e = errorOf(() => decode(bytes));
    assert.ok(e instanceof AnspackError, `${name}: ${e}`);
    await expectError(bytes, code, dataOffsetOf(bytes, e.tensor) + field, pattern, e.tensor);
  }
});
