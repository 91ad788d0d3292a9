// Spec revision 2 (spec/FORMAT.md sections 7.1 and 7.2): pairs of 1-byte entries as one symbol, and
// tensors split into chunks (independent streams sharing the model). Valid files decode to their
// entries on both engines and agree with the reference decoder (src/reference.js); one bad file per
// new validity rule (section 13 rule 7, and rule 9 for the chunk checksums) gives its error, at the
// field's byte offset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, decodeTensor, readHeader, AnspackError } from '../src/index.js';
import { parseHeader, ransArrays } from '../src/header.js';
import { decodeTensorReference } from '../src/reference.js';
import { encodeFile, fxhash26Ref, rng, randomInts } from './helpers/encoder.js';

const ENGINES = ['js', 'wasm', 'auto'];
const RANGES = { int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1] };

/** Recompute header_checksum and (if the structure is valid) every block_checksum, so that the intended error is the one raised. */
function refresh(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let tensors = [];
  try {
    tensors = parseHeader(bytes, { verify: false }).tensors;
  } catch (e) { /* a structural error: it comes before any checksum anyway */ }
  for (const t of tensors) {
    const side = t.coding === 'rans' ? t.dataSize - 2 * t.words : 0;
    const seq = [...bytes.subarray(t.dataOffset, t.dataOffset + side), ...bytes.subarray(t.dequantOffset, t.dequantOffset + t.dequantSize)];
    dv.setUint32(t.entryOffset + 44, fxhash26Ref(seq), true);
  }
  const metaEnd = 40 + dv.getUint32(28, true) + dv.getUint32(32, true);
  const head = bytes.slice(0, metaEnd);
  head.fill(0, 36, 40);
  dv.setUint32(36, fxhash26Ref(head), true);
  return bytes;
}

function mutate(bytes, fn, { fix = true } = {}) {
  const b = bytes.slice();
  fn(new DataView(b.buffer), b);
  return fix ? refresh(b) : b;
}

function expectError(bytes, code, offset, pattern = null, options = {}) {
  for (const engine of ['js', 'wasm']) {
    assert.throws(() => decode(bytes, { ...options, engine }), (e) => {
      assert.ok(e instanceof AnspackError, `not an AnspackError: ${e}`);
      assert.equal(e.code, code, e.message);
      if (offset !== null) assert.equal(e.offset, offset, e.message);
      if (pattern) assert.match(e.message, pattern);
      assert.equal(e.tensor, 'w', e.message);
      return true;
    });
  }
}

/** The file's tensor decoded by the reference decoder, from the file's own bytes. */
function reference(bytes, name) {
  const hdr = parseHeader(bytes);
  const t = hdr.tensors.find((x) => x.name === name);
  const m = ransArrays(hdr.bytes, t);
  const words = Array.from(m.words).slice(0, t.words);
  return decodeTensorReference({ ...m, words }, Array.from(m.vals), { pairs: t.pairs, signed: t.dtype === 'int8' });
}

function roundTrip(tensors, label) {
  const bytes = encodeFile(tensors);
  const info = readHeader(bytes).tensors;
  for (const engine of ENGINES) {
    const { byName } = decode(bytes, { engine });
    tensors.forEach((t, i) => {
      const got = byName[t.name];
      assert.equal(got.dtype, t.dtype);
      assert.equal(got.data.length, t.data.length, `${label} ${t.name} ${engine}`);
      assert.deepEqual(Array.from(got.data), Array.from(t.data), `${label} ${t.name} ${engine}`);
      assert.equal(got.checksum, info[i].checksum);
    });
  }
  for (const t of tensors) {
    const r = reference(bytes, t.name);
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.entries, Array.from(t.data), `${label} ${t.name} reference`);
    assert.equal(r.checksum, info.find((x) => x.name === t.name).checksum);
  }
  return { bytes, info };
}

test('chunked tensors of every integer dtype, many lane counts, K = 2 and many, a short last chunk', () => {
  const r = rng(71);
  for (const [dtype, [lo, hi]] of Object.entries(RANGES)) {
    for (const [n, L, Q] of [[24, 2, 12], [25, 4, 12], [23, 8, 10], [100, 1, 1], [100, 3, 7], [301, 5, 50], [64, 16, 16], [257, 8, 255], [1000, 6, 33]]) {
      const data = randomInts(r, n, dtype.endsWith('32') ? 2 ** 28 : dtype.endsWith('16') ? 900 : 6, lo, hi);
      const { info } = roundTrip([{ name: 'w', dtype, shape: [n], data, lanes: L, chunk: Q, precision: 11 }], `${dtype} n=${n} L=${L} Q=${Q}`);
      assert.equal(info[0].chunkSize, Q);
      assert.equal(info[0].chunks, Math.ceil(n / Q));
      assert.equal(info[0].lanes, L);
      assert.equal(info[0].pairs, false);
      assert.equal(info[0].symbols, n);
    }
  }
});

test('a last chunk with fewer symbols than lanes: its lanes without a symbol start and end at 2^16', () => {
  // N = 23, Q = 10, L = 8: the last chunk holds 3 symbols, lanes 3..7 of it get none.
  const data = randomInts(rng(3), 23, 9, -128, 127);
  const { bytes } = roundTrip([{ name: 'w', dtype: 'int8', shape: [23], data, lanes: 8, chunk: 10 }], 'short last chunk');
  const hdr = parseHeader(bytes);
  const t = hdr.tensors[0];
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  for (let j = 3; j < 8; j++) assert.equal(dv.getUint32(t.statesOffset + 4 * (2 * 8 + j), true), 0x10000);
  // ... and must end there: a wrong state in an unused lane is a bad final state of chunk 2.
  const bad = mutate(bytes, (d) => d.setUint32(t.statesOffset + 4 * (2 * 8 + 5), 0x10001, true));
  expectError(bad, 'CorruptStream', t.statesOffset + 4 * (2 * 8 + 5), /lane 5 of chunk 2/);
});

test('paired int8 / uint8 tensors: output of n entries in the 1-byte dtype, both engines and the reference', () => {
  const r = rng(17);
  for (const dtype of ['int8', 'uint8']) {
    for (const [n, L, scale, P] of [[2, 1, 2, 8], [64, 4, 1, 10], [1000, 8, 2, 12], [998, 3, 30, 15], [4096, 2, 0.6, 9]]) {
      const [lo, hi] = RANGES[dtype];
      const data = randomInts(r, n, scale, lo, hi).map((v) => (dtype === 'uint8' ? v + 128 : v)).map((v) => Math.max(lo, Math.min(hi, v)));
      const { info } = roundTrip([{ name: 'w', dtype, shape: [n / 2, 2], data, lanes: L, pairs: true, precision: P }], `${dtype} pairs n=${n}`);
      assert.equal(info[0].pairs, true);
      assert.equal(info[0].symbols, n / 2);
      assert.equal(info[0].chunks, 1);
      assert.equal(info[0].chunkSize, 0);
    }
  }
});

test('pairs and chunks together; a constant (V = 1) tensor chunked and paired', () => {
  const r = rng(5);
  roundTrip([
    { name: 'p', dtype: 'int8', shape: [202], data: randomInts(r, 202, 1.5, -8, 7), lanes: 4, pairs: true, chunk: 20 },
    { name: 'q', dtype: 'uint8', shape: [10, 10], data: randomInts(r, 100, 2, 0, 15), lanes: 3, pairs: true, chunk: 3 },
    { name: 'c', dtype: 'int16', shape: [77], data: new Array(77).fill(-5), lanes: 4, chunk: 10 },
    { name: 'cp', dtype: 'int8', shape: [40], data: new Array(40).fill(3), lanes: 2, pairs: true, chunk: 7 },
  ], 'mixed');
});

test('paired tensor into caller-supplied outputs, also at an odd byte offset (decoded through a copy)', () => {
  const data = randomInts(rng(8), 300, 2, -128, 127);
  const bytes = encodeFile([{ name: 'w', dtype: 'int8', shape: [300], data, lanes: 4, pairs: true, chunk: 40 }]);
  for (const engine of ['js', 'wasm']) {
    const buf = new Int8Array(302);
    const odd = buf.subarray(1, 301);
    const t = decodeTensor(bytes, 'w', { out: odd, engine });
    assert.equal(t.data.buffer, buf.buffer);
    assert.deepEqual(Array.from(buf.subarray(1, 301)), data);
    assert.equal(buf[0], 0);
    assert.equal(buf[301], 0);
    const even = new Int8Array(300);
    decode(bytes, { outputs: { w: even }, engine });
    assert.deepEqual(Array.from(even), data);
  }
});

test('a chunked tensor whose words end the file (no pad word after the last chunk) and one followed by another tensor', () => {
  const r = rng(23);
  const a = randomInts(r, 5000, 20, -128, 127);
  const b = randomInts(r, 333, 20, -128, 127);
  roundTrip([{ name: 'a', dtype: 'int8', shape: [5000], data: a, lanes: 8, chunk: 1000 }], 'last in file');
  roundTrip([
    { name: 'a', dtype: 'int8', shape: [5000], data: a, lanes: 8, chunk: 1000 },
    { name: 'b', dtype: 'int8', shape: [333], data: b, lanes: 5, chunk: 100 },
  ], 'two tensors');
});

// ---------------------------------------------------------------------------------------------
// One bad file per rule.

const base = () => encodeFile([{ name: 'w', dtype: 'int8', shape: [60], data: randomInts(rng(99), 60, 6, -128, 127), lanes: 4, chunk: 16, precision: 10 }]);
const file = base();
const T = parseHeader(file).tensors[0]; // K = 4 chunks of 16, 16, 16, 12 symbols
const O = T.dataOffset;
const CW = T.chunkTableOffset; // chunk_words[0..3], then chunk_checksums[0..3] at CW + 16
const CK = CW + 4 * T.chunks;

test('the base file for the bad variants decodes', () => {
  assert.equal(T.chunks, 4);
  assert.equal(T.chunkSize, 16);
  assert.equal(decode(file).tensors[0].data.length, 60);
});

test('mode bits 2-7 set -> ReservedNonZero at the mode byte (bit 1, PRODUCT, is revision 3: product.test.js)', () => {
  expectError(mutate(file, (dv, b) => { b[O + 17] |= 4; }), 'ReservedNonZero', O + 17, /mode/);
  expectError(mutate(file, (dv, b) => { b[O + 17] = 0x80; }), 'ReservedNonZero', O + 17);
  expectError(mutate(file, (dv, b) => { b[O + 17] = 0x07; }), 'ReservedNonZero', O + 17);
});

test('PAIRS on an int16 tensor -> BadModel at the mode byte', () => {
  const f = encodeFile([{ name: 'w', dtype: 'int16', shape: [20], data: randomInts(rng(1), 20, 5, -99, 99), lanes: 2 }]);
  const o = parseHeader(f).tensors[0].dataOffset;
  expectError(mutate(f, (dv, b) => { b[o + 17] = 1; }), 'BadModel', o + 17, /1-byte dtype/);
});

test('PAIRS with an odd entry count -> BadModel at the mode byte', () => {
  const f = encodeFile([{ name: 'w', dtype: 'uint8', shape: [21], data: randomInts(rng(2), 21, 5, 0, 255), lanes: 2 }]);
  const o = parseHeader(f).tensors[0].dataOffset;
  expectError(mutate(f, (dv, b) => { b[o + 17] = 1; }), 'BadModel', o + 17, /n = 21/);
  // and an empty tensor may not set it (nor Q)
  const e = encodeFile([{ name: 'w', dtype: 'int8', shape: [0], data: [] }]);
  const oe = parseHeader(e).tensors[0].dataOffset;
  expectError(mutate(e, (dv, b) => { b[oe + 17] = 1; }), 'BadModel', oe + 17);
  expectError(mutate(e, (dv) => dv.setUint32(oe + 20, 4, true)), 'BadModel', oe + 20);
});

test('Q >= N -> BadModel at the chunk field', () => {
  expectError(mutate(file, (dv) => dv.setUint32(O + 20, 60, true)), 'BadModel', O + 20, /chunk size Q is 60/);
  expectError(mutate(file, (dv) => dv.setUint32(O + 20, 1000, true)), 'BadModel', O + 20);
});

test('Q < L -> BadModel at the chunk field', () => {
  expectError(mutate(file, (dv) => dv.setUint32(O + 20, 3, true)), 'BadModel', O + 20, /L = 4 <= Q/);
});

test('chunk tables that do not fit the block -> BadModel (data_size)', () => {
  // Q = 8 makes K = 8: the block is too small for the states and tables of 8 chunks.
  expectError(mutate(file, (dv) => dv.setUint32(O + 20, 8, true)), 'BadModel', T.entryOffset + 8, /K=8/);
  // Q = 0 on a file with chunk tables: the size formula without them disagrees.
  expectError(mutate(file, (dv) => dv.setUint32(O + 20, 0, true)), 'BadModel', T.entryOffset + 8);
});

test('chunk_words summing to other than W -> BadModel at chunk_words', () => {
  const w0 = new DataView(file.buffer).getUint32(CW, true);
  assert.ok(w0 >= 1);
  expectError(mutate(file, (dv) => dv.setUint32(CW, w0 - 1, true)), 'BadModel', CW, /sum to/);
});

test('chunk_words[k] above its chunk\'s symbol count -> BadModel at that entry', () => {
  // chunk 3 holds 12 symbols
  expectError(mutate(file, (dv) => dv.setUint32(CW + 12, 13, true)), 'BadModel', CW + 12, /chunk_words\[3\] is 13/);
  expectError(mutate(file, (dv) => dv.setUint32(CW + 4, 2 ** 32 - 1, true)), 'BadModel', CW + 4);
});

test('chunk checksum >= 2^26 -> BadModel at that entry', () => {
  expectError(mutate(file, (dv) => dv.setUint32(CK + 8, dv.getUint32(CK + 8, true) | (1 << 26), true)), 'BadModel', CK + 8, /chunk_checksums\[2\]/);
});

test('wrong chunk checksum (block and header checksums made consistent) -> ChecksumMismatch at that entry; verify: false decodes', () => {
  const bad = mutate(file, (dv) => dv.setUint32(CK + 4, dv.getUint32(CK + 4, true) ^ 0x40, true));
  expectError(bad, 'ChecksumMismatch', CK + 4, /chunk 1's ids/);
  const { tensors } = decode(bad, { verify: false });
  assert.deepEqual(Array.from(tensors[0].data), Array.from(decode(file).tensors[0].data));
});

test('chunk checksums right but the table checksum wrong -> ChecksumMismatch at the entry checksum', () => {
  const bad = mutate(file, (dv) => dv.setUint32(T.entryOffset + 32, dv.getUint32(T.entryOffset + 32, true) ^ 1, true));
  expectError(bad, 'ChecksumMismatch', T.entryOffset + 32, /chunk checksums hash/);
});

test('stream checks per chunk: a word moved between chunks, a corrupt word, a bad state in chunk 2', () => {
  const dv0 = new DataView(file.buffer);
  const w0 = dv0.getUint32(CW, true), w1 = dv0.getUint32(CW + 4, true);
  assert.ok(w1 >= 1);
  // chunk 0 claims one word of chunk 1: chunk 0 leaves it over (its stream ends first).
  expectError(mutate(file, (dv) => { dv.setUint32(CW, w0 + 1, true); dv.setUint32(CW + 4, w1 - 1, true); }), 'CorruptStream', T.wordsOffset + 2 * w0, /of chunk 0/);
  // chunk 0 gives its last word to chunk 1: chunk 0 under-runs, at the end of its (shorter) stream.
  expectError(mutate(file, (dv) => { dv.setUint32(CW, w0 - 1, true); dv.setUint32(CW + 4, w1 + 1, true); }), 'CorruptStream', T.wordsOffset + 2 * (w0 - 1), /under-run/);
  // A changed word of chunk 1: a stream error or chunk 1's checksum, never another chunk.
  const bad = mutate(file, (dv) => dv.setUint16(T.wordsOffset + 2 * w0, dv.getUint16(T.wordsOffset + 2 * w0, true) ^ 0x1234, true));
  for (const engine of ['js', 'wasm']) {
    assert.throws(() => decode(bad, { engine }), (e) => {
      assert.ok(['CorruptStream', 'ChecksumMismatch'].includes(e.code), e.message);
      assert.match(e.message, /chunk 1/);
      return true;
    });
  }
  // An initial state below 2^16 in chunk 2 -> BadModel naming chunk and lane.
  expectError(mutate(file, (dv) => dv.setUint32(T.statesOffset + 4 * (2 * 4 + 1), 5, true)), 'BadModel', T.statesOffset + 4 * 9, /chunk 2, lane 1/);
});

test('decode errors match the reference decoder\'s verdict on random corruptions of a chunked, paired file', () => {
  const f = encodeFile([{ name: 'w', dtype: 'int8', shape: [400], data: randomInts(rng(4), 400, 3, -128, 127), lanes: 3, pairs: true, chunk: 50 }]);
  const t = parseHeader(f).tensors[0];
  const r = rng(12);
  for (let trial = 0; trial < 60; trial++) {
    const at = t.wordsOffset + Math.floor(r() * 2 * t.words);
    const bad = mutate(f, (dv, b) => { b[at] ^= 1 + Math.floor(r() * 255); }, { fix: false });
    const ref = reference(bad, 'w');
    for (const engine of ['js', 'wasm']) {
      let code = 'ok';
      try { decode(bad, { engine }); } catch (e) { code = e.code; }
      const want = ref.status === 'ok' ? (ref.checksums.every((c, k) => c === new DataView(bad.buffer).getUint32(t.chunkTableOffset + 4 * t.chunks + 4 * k, true)) ? 'ok' : 'ChecksumMismatch') : 'CorruptStream';
      assert.equal(code, want, `trial ${trial} ${engine}`);
    }
  }
});
