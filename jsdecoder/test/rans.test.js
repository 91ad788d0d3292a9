// The fast rANS loops (src/rans.js + src/rans_fast.js) agree with the readable reference decoder
// (src/reference.js) on random streams: every lane count path (1, 2, 4, 8 unrolled and the generic
// one), both slot-table layouts, single-valued tensors and corrupted streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRans, buildSlotTable } from '../src/rans.js';
import { decodeRansReference } from '../src/reference.js';
import { buildModel, ransEncode, fxhash26Ref, rng, randomInts } from './helpers/encoder.js';

function stream(values, P, L) {
  const m = buildModel(values, P);
  const { states, words } = ransEncode(m.ids, m.freqs, m.cdf, P, L);
  return { m, model: { states: Uint32Array.from(states), words: Uint16Array.from(words), cdf: Uint16Array.from(m.cdf), P, n: values.length } };
}

function fastDecode(model, vocab, Ctor = Int32Array) {
  const out = new Ctor(model.n);
  const r = decodeRans(model, Ctor.from(vocab), out);
  return { out, ...r };
}

const cases = [];
const rand = rng(42);
for (const L of [1, 2, 3, 4, 5, 8, 9, 16, 32, 256]) {
  for (const [P, scale] of [[8, 3], [12, 8], [12, 200], [15, 2000], [15, 40]]) {
    const n = 1 + Math.floor(rand() * 3000);
    cases.push({ L: Math.min(L, n), P, n, scale });
  }
}

for (const { L, P, n, scale } of cases) {
  test(`fast == reference: n=${n} L=${L} P=${P} scale=${scale}`, () => {
    const r = rng(n * 31 + L * 7 + P);
    let values = randomInts(r, n, scale, -100000, 100000);
    // Keep at most 2^P distinct values (the model's limit).
    const distinct = [...new Set(values)];
    if (distinct.length > 2 ** P) {
      const keep = new Set(distinct.slice(0, 2 ** P));
      values = values.map((v) => (keep.has(v) ? v : distinct[0]));
    }
    const { m, model } = stream(values, P, L);
    const ref = decodeRansReference(model, m.vocab);
    assert.equal(ref.status, 'ok');
    assert.deepEqual(ref.values, values);
    assert.deepEqual(ref.ids, m.ids);
    assert.equal(ref.checksum, fxhash26Ref(m.ids));
    const fast = fastDecode(model, m.vocab);
    assert.equal(fast.status, 'ok');
    assert.deepEqual(Array.from(fast.out), values);
    assert.equal(fast.checksum, ref.checksum);
    assert.equal(fast.wordsRead, model.words.length);
    // The 8/16-bit output mode (values packed in the slot table).
    const Small = values.every((v) => v >= -128 && v <= 127) ? Int8Array : Int16Array;
    if (values.every((v) => v >= -32768 && v <= 32767)) {
      const small = fastDecode(model, m.vocab, Small);
      assert.equal(small.status, 'ok');
      assert.deepEqual(Array.from(small.out), values);
      assert.equal(small.checksum, ref.checksum);
    }
  });
}

test('slot table: two int32 per slot, f << 16 | bias then symbol << 16 | value bits', () => {
  const tb = buildSlotTable(Uint16Array.from([0, 3, 4]), 2, Int8Array.of(-5, 7));
  assert.deepEqual(Array.from(tb), [
    (3 << 16) | 0, 0xfffb, (3 << 16) | 1, 0xfffb, (3 << 16) | 2, 0xfffb, (1 << 16) | 0, (1 << 16) | 7,
  ]);
  const big = buildSlotTable(Uint16Array.from([0, 32767, 32768]), 15);
  assert.equal(big[0] >>> 16, 32767);
  assert.equal(big[2 * 32766] & 0xffff, 32766);
  assert.equal(big[2 * 32767 + 1], 1);
});

test('single-valued tensor: identity decoding, no words, checksum of zeros', () => {
  for (const L of [1, 3, 8]) {
    const { m, model } = stream(new Array(1000).fill(-7), 12, L);
    assert.equal(model.words.length, 0);
    const fast = fastDecode(model, m.vocab);
    const ref = decodeRansReference(model, m.vocab);
    assert.equal(fast.status, 'ok');
    assert.ok(fast.out.every((v) => v === -7));
    assert.equal(fast.checksum, ref.checksum);
    assert.equal(fast.checksum, fxhash26Ref(new Array(1000).fill(0)));
    // A lane not at 2^16 is a corrupt stream.
    const bad = { ...model, states: Uint32Array.from(model.states, (x, j) => (j === L - 1 ? x + 1 : x)) };
    assert.equal(fastDecode(bad, m.vocab).status, 'badFinalState');
    assert.equal(decodeRansReference(bad, m.vocab).status, 'badFinalState');
  }
});

test('corrupted streams: fast and reference agree on the failure', () => {
  const r = rng(7);
  let disagreements = 0;
  let detected = 0;
  for (let trial = 0; trial < 200; trial++) {
    const L = [1, 2, 4, 8, 5, 32][trial % 6];
    const P = [8, 12, 15][trial % 3];
    const values = randomInts(r, 200 + Math.floor(r() * 500), 6, -50, 50);
    const { m, model } = stream(values, P, L);
    const words = model.words.slice();
    const kind = trial % 4;
    let corrupt = { ...model, words };
    if (kind === 0 && words.length) words[Math.floor(r() * words.length)] ^= 1 << Math.floor(r() * 16);
    else if (kind === 1 && words.length) corrupt = { ...model, words: words.subarray(0, words.length - 1) };
    else if (kind === 2) corrupt = { ...model, words: Uint16Array.from([...words, 0x1234]) };
    else corrupt = { ...model, states: Uint32Array.from(model.states, (x, j) => (j === 0 ? x ^ 0x40 : x)) };
    const fast = fastDecode(corrupt, m.vocab);
    const ref = decodeRansReference(corrupt, m.vocab);
    if (fast.status !== ref.status) disagreements++;
    if (fast.status === 'ok' && ref.status === 'ok' && fast.checksum !== ref.checksum) disagreements++;
    if (fast.status !== 'ok' || fast.checksum !== fxhash26Ref(m.ids)) detected++;
  }
  assert.equal(disagreements, 0);
  assert.equal(detected, 200, 'every corruption is caught by the stream checks or the checksum');
});

test('P = 15, many symbols and one frequent one, every output mode: fast == reference', () => {
  const r = rng(99);
  for (const L of [1, 2, 3, 4, 8, 17]) {
    const n = 6000;
    const values = Array.from({ length: n }, (_, i) => (r() < 0.6 ? 5 : 1000 + (i % 1500)));
    const { m, model } = stream(values, 15, L);
    const ref = decodeRansReference(model, m.vocab);
    assert.equal(ref.status, 'ok');
    for (const Ctor of [Int16Array, Uint16Array, Int32Array, Uint32Array]) {
      const fast = fastDecode(model, m.vocab, Ctor);
      assert.equal(fast.status, 'ok');
      assert.deepEqual(Array.from(fast.out), Array.from(Ctor.from(values)));
      assert.equal(fast.checksum, ref.checksum);
    }
  }
});

test('a stream cut in half under-runs in the first part of the decode: reported, nothing thrown', () => {
  for (const L of [1, 4, 8, 5, 32]) {
    const values = randomInts(rng(L), 5000, 8, -128, 127);
    const { m, model } = stream(values, 12, L);
    const cut = { ...model, words: model.words.slice(0, model.words.length >> 1) };
    const ref = decodeRansReference(cut, m.vocab);
    assert.equal(ref.status, 'underrun');
    for (const Ctor of [Int8Array, Int32Array]) {
      const fast = fastDecode(cut, m.vocab, Ctor);
      assert.equal(fast.status, 'underrun', `L=${L} ${Ctor.name}`);
      assert.ok(fast.wordsRead > cut.words.length);
    }
    // The same stream, padded in place (as decode() passes a view with a spare word after it).
    const padded = new Uint16Array(cut.words.length + 1);
    padded.set(cut.words);
    const r = decodeRans({ ...cut, words: padded, padded: true }, Int8Array.from(m.vocab), new Int8Array(values.length));
    assert.equal(r.status, 'underrun');
  }
});

test('padded and unpadded word arrays decode alike', () => {
  for (const L of [1, 2, 3, 4, 8, 33]) {
    const values = randomInts(rng(100 + L), 3001, 5, -128, 127);
    const { m, model } = stream(values, 11, L);
    const padded = new Uint16Array(model.words.length + 1);
    padded.set(model.words);
    padded[model.words.length] = 0xabcd; // whatever follows the stream in the file
    const a = fastDecode(model, m.vocab, Int8Array);
    const out = new Int8Array(values.length);
    const b = decodeRans({ ...model, words: padded, padded: true }, Int8Array.from(m.vocab), out);
    assert.equal(a.status, 'ok');
    assert.equal(b.status, 'ok');
    assert.equal(a.checksum, b.checksum);
    assert.deepEqual(out, a.out);
  }
});
