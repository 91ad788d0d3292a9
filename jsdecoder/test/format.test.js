// Hand-made files: round trips of every dtype and shape class, the API's options, and one bad file
// per validity rule (spec section 13) rejected with the error code of section 14.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decode, decodeTensor, readHeader, fxhash26, AnspackError, float16ToFloat32, DEFAULT_MAX_ENTRIES } from '../src/index.js';
import { encodeFile, fxhash26Ref, rng, randomInts } from './helpers/encoder.js';

const ARRAYS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, float16: Uint16Array, float32: Float32Array };

/** Recompute header_checksum after a mutation (so that the intended error is the one raised). */
function refresh(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const metaEnd = 40 + dv.getUint32(28, true) + dv.getUint32(32, true);
  if (metaEnd > bytes.length) return bytes;
  const hdr = bytes.slice(0, metaEnd);
  hdr.fill(0, 36, 40);
  dv.setUint32(36, fxhash26Ref(hdr), true);
  return bytes;
}

function mutate(bytes, fn, { fix = true } = {}) {
  const b = bytes.slice();
  fn(new DataView(b.buffer), b);
  return fix ? refresh(b) : b;
}

function expectError(bytes, code, options = {}, pattern = null) {
  assert.throws(() => decode(bytes, options), (e) => {
    assert.ok(e instanceof AnspackError, `not an AnspackError: ${e}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

const small = () => encodeFile([
  { name: 'w', dtype: 'int8', shape: [4, 25], data: randomInts(rng(1), 100, 5, -128, 127), lanes: 3 },
  { name: 'b', dtype: 'float32', shape: [3], data: [0.5, -2, 1e-3] },
], { note: 'x' });

// Offsets in the file written by small(): entry 0 at 40 (48 + 16 + 8 = 72 bytes), entry 1 at 112.
const E0 = 40, E1 = 112;
const META = 40 + 136; // the metadata {"note":"x"} follows the 136-byte table

test('the test encoder writes the golden worked example byte for byte (spec section 9 rule)', () => {
  const w = [0, 1, 0, -1, 0, 0, 2, 0, 0, 0, -1, 0, 1, 0, 0, -2, 3, 0, 1, 0, -1, 0, 0, 1];
  const mine = encodeFile([{ name: 'w', dtype: 'int8', shape: [3, 8], data: w, lanes: 2, precision: 4 }]);
  const golden = readFileSync(new URL('../../tests/vectors/worked_example.anspack', import.meta.url));
  assert.deepEqual(Buffer.from(mine), golden);
});

test('round trip of every dtype, coding and shape class', () => {
  const r = rng(5);
  const specs = [
    ['int8', [7, 9], -128, 127, 20], ['uint8', [300], 0, 255, 40], ['int16', [2, 3, 4], -32768, 32767, 3000],
    ['uint16', [50], 0, 65535, 900], ['int32', [33], -2147483648, 2147483647, 1e9], ['uint32', [40], 0, 4294967295, 1e9],
  ];
  const tensors = [];
  for (const [dtype, shape, lo, hi, scale] of specs) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randomInts(r, n, scale, lo, hi).map((v) => (dtype === 'uint32' ? v >>> 0 : v));
    tensors.push({ name: `${dtype}_rans`, dtype, shape, data, lanes: 1 + Math.floor(r() * 5), precision: 12 });
    tensors.push({ name: `${dtype}_raw`, dtype, shape, data, raw: true });
  }
  tensors.push({ name: 'uint32_extremes', dtype: 'uint32', shape: [4], data: [0, 4294967295, 2147483648, 4294967295] });
  tensors.push({ name: 'int32_extremes', dtype: 'int32', shape: [2, 2], data: [-2147483648, 2147483647, 0, -1] });
  tensors.push({ name: 'f16', dtype: 'float16', shape: [4], data: [0x3c00, 0xc000, 0x7c00, 0x0001] });
  tensors.push({ name: 'f32', dtype: 'float32', shape: [2], data: [1.5, -0] });
  tensors.push({ name: 'scalar', dtype: 'int16', shape: [], data: [-5] });
  tensors.push({ name: 'empty', dtype: 'int8', shape: [3, 0, 2], data: [] });
  tensors.push({ name: 'empty_raw', dtype: 'float32', shape: [0], data: [] });
  tensors.push({ name: 'constant', dtype: 'uint8', shape: [1000], data: new Array(1000).fill(7), lanes: 8 });
  tensors.push({ name: 'lanes_eq_n', dtype: 'int8', shape: [9], data: [1, 2, 3, 1, 2, 1, 0, 0, 1], lanes: 9 });
  tensors.push({ name: 'ünïcødé/名前 ✓', dtype: 'int8', shape: [1], data: [3] });
  const file = encodeFile(tensors, { hello: ['world', 1] });
  const { tensors: out, byName, metadata } = decode(file);
  assert.deepEqual(metadata, { hello: ['world', 1] });
  assert.equal(out.length, tensors.length);
  for (const t of tensors) {
    const got = byName[t.name];
    assert.ok(got, t.name);
    assert.deepEqual(got.shape, t.shape);
    assert.equal(got.dtype, t.dtype);
    assert.ok(got.data instanceof ARRAYS[t.dtype], `${t.name}: ${got.data.constructor.name}`);
    assert.deepEqual(Array.from(got.data), Array.from(ARRAYS[t.dtype].from(t.data)), t.name);
    assert.equal(got.checksum, readHeader(file).tensors.find((x) => x.name === t.name).checksum);
  }
  assert.equal(byName.empty.checksum, 0);
  // float16 -> float32 with dequantize (no dequant block): exact widening.
  const f16 = decodeTensor(file, 'f16', { dequantize: true });
  assert.equal(f16.dtype, 'float32');
  assert.equal(f16.storedDtype, 'float16');
  assert.deepEqual(Array.from(f16.data), [1, -2, Infinity, 2 ** -24]);
});

test('float16ToFloat32 matches the IEEE definition on all 65536 patterns', () => {
  const bits = new Uint16Array(65536).map((_, i) => i);
  const f = float16ToFloat32(bits);
  for (let b = 0; b < 65536; b++) {
    const s = b >> 15 ? -1 : 1, e = (b >> 10) & 31, m = b & 1023;
    const want = e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
    if (!Object.is(f[b], want)) assert.fail(`pattern ${b}: ${f[b]} != ${want}`);
  }
});

test('readHeader lists tensors without decoding and agrees with decode', () => {
  const file = small();
  const h = readHeader(file);
  assert.equal(h.version, 1);
  assert.equal(h.fileSize, file.length);
  assert.deepEqual(h.metadata, { note: 'x' });
  assert.deepEqual(h.tensors.map((t) => [t.name, t.coding, t.dtype, t.n]), [['w', 'rans', 'int8', 100], ['b', 'raw', 'float32', 3]]);
  assert.equal(h.tensors[0].lanes, 3);
  assert.equal(h.tensors[0].precision, 12);
  assert.equal(h.tensors[1].blockChecksum, 0);
});

test('input forms: ArrayBuffer, Uint8Array at any byteOffset, Node Buffer, DataView', () => {
  const file = small();
  const want = Array.from(decode(file).byName.w.data);
  for (let shift = 0; shift < 9; shift++) {
    const big = new Uint8Array(file.length + shift);
    big.set(file, shift);
    const view = big.subarray(shift);
    assert.deepEqual(Array.from(decode(view).byName.w.data), want, `shift ${shift}`);
  }
  assert.deepEqual(Array.from(decode(file.buffer.slice(0)).byName.w.data), want);
  assert.deepEqual(Array.from(decode(Buffer.from(file)).byName.w.data), want);
  assert.deepEqual(Array.from(decode(new DataView(file.buffer)).byName.w.data), want);
  const shared = new Uint8Array(new SharedArrayBuffer(file.length));
  shared.set(file);
  assert.deepEqual(Array.from(decode(shared).byName.w.data), want);
  assert.deepEqual(decode(shared.buffer).metadata, { note: 'x' });
  assert.throws(() => decode('not bytes'), (e) => e.code === 'BadArgument');
});

test('options: verify, outputs / out, maxEntries, decodeTensor', () => {
  const file = small();
  const out = new Int8Array(100);
  const r = decode(file, { outputs: { w: out } });
  assert.equal(r.byName.w.data, out);
  const longer = new Int8Array(150);
  assert.equal(decodeTensor(file, 'w', { out: longer }).data.buffer, longer.buffer);
  assert.throws(() => decodeTensor(file, 'w', { out: new Int16Array(100) }), (e) => e.code === 'BadArgument');
  assert.throws(() => decodeTensor(file, 'w', { out: new Int8Array(99) }), (e) => e.code === 'BadArgument');
  assert.throws(() => decodeTensor(file, 'nope'), (e) => e.code === 'BadArgument' && /nope/.test(e.message));
  assert.deepEqual(Array.from(decodeTensor(file, 'b').data), Array.from(Float32Array.of(0.5, -2, 1e-3)));
  expectError(file, 'LimitExceeded', { maxEntries: 99 }, /maxEntries/);
  expectError(file, 'LimitExceeded', { maxTotalEntries: 102 }, /in all/); // 100 + 3 entries
  assert.equal(decode(file, { maxEntries: 100, maxTotalEntries: 103 }).tensors.length, 2);
  assert.equal(DEFAULT_MAX_ENTRIES, 2 ** 28);
  // A wrong ids checksum is reported by default and skipped with verify: false.
  const bad = mutate(file, (dv) => dv.setUint32(E0 + 32, (dv.getUint32(E0 + 32, true) ^ 1), true));
  expectError(bad, 'ChecksumMismatch', {}, /table says/);
  const r2 = decode(bad, { verify: false });
  assert.equal(r2.byName.w.checksum, readHeader(file).tensors[0].checksum);
});

test('fxhash26: spec values, typed and plain arrays, argument checks', () => {
  assert.equal(fxhash26([]), 0);
  assert.equal(fxhash26([1]), 0x03220a95 & 0x3ffffff);
  assert.equal(fxhash26([0, 2, 0, 1, 0, 0]), fxhash26Ref([0, 2, 0, 1, 0, 0]));
  assert.equal(fxhash26(Uint32Array.of(4294967295, 7)), fxhash26([4294967295, 7]));
  // Exact-product definition, computed with BigInt here (the decoder never uses BigInt).
  const seq = [5, 4294967295, 123456789, 0, 65535];
  let h = 0n;
  for (const a of seq) {
    h = ((h & 0x1fffffn) << 5n) | (h >> 21n);
    h = ((h ^ BigInt(a)) * 0x03220a95n) & 0x3ffffffn;
  }
  assert.equal(fxhash26(seq), Number(h));
  assert.throws(() => fxhash26([-1]), (e) => e.code === 'BadArgument');
  assert.throws(() => fxhash26([1.5]), (e) => e.code === 'BadArgument');
  assert.throws(() => fxhash26(Float32Array.of(1)), (e) => e.code === 'BadArgument');
});

// ---- one bad file per rule ------------------------------------------------------------------------

const file = small();
const hdr = readHeader(file);
const w = hdr.tensors[0];
const wo = w.dataOffset; // rANS block of "w"
const cdfAt = wo + 24 + 4 * w.lanes + w.vocabSize + (w.vocabSize & 1);
const wordsAt = cdfAt + 2 * (w.vocabSize + 1);

const BAD = [
  ['empty input', new Uint8Array(0), 'Truncated'],
  ['a prefix of the magic', file.slice(0, 5), 'Truncated'],
  ['wrong magic', mutate(file, (dv, b) => { b[1] = 0x61; }, { fix: false }), 'BadMagic'],
  ['short header', file.slice(0, 30), 'Truncated'],
  ['version 2', mutate(file, (dv) => dv.setUint32(8, 2, true)), 'UnsupportedVersion'],
  ['flags set', mutate(file, (dv) => dv.setUint32(12, 4, true)), 'ReservedNonZero'],
  ['header_checksum >= 2^26', mutate(file, (dv) => dv.setUint32(36, 1 << 26, true), { fix: false }), 'BadTable'],
  ['file_size too large', mutate(file, (dv) => dv.setUint32(16, file.length + 8, true)), 'Truncated'],
  ['trailing bytes', (() => { const b = new Uint8Array(file.length + 3); b.set(file); return b; })(), 'SizeMismatch'],
  ['cut file', file.slice(0, file.length - 4), 'Truncated'],
  ['table_size not a multiple of 8', mutate(file, (dv) => dv.setUint32(28, dv.getUint32(28, true) + 4, true)), 'BadTable'],
  ['table beyond the file', mutate(file, (dv) => dv.setUint32(28, 1 << 20, true)), 'Truncated'],
  ['tensor_count too large', mutate(file, (dv) => dv.setUint32(24, 1000, true)), 'BadTable'],
  ['tensor_count too small (entries do not fill the table)', mutate(file, (dv) => dv.setUint32(24, 1, true)), 'BadTable'],
  ['unknown dtype', mutate(file, (dv, b) => { b[E0 + 36] = 9; }), 'BadTable'],
  ['unknown coding', mutate(file, (dv, b) => { b[E0 + 37] = 3; }), 'BadTable'],
  ['rANS coding for float32', mutate(file, (dv, b) => { b[E1 + 37] = 0; }), 'BadTable'],
  ['ndim 9', mutate(file, (dv, b) => { b[E0 + 38] = 9; }), 'BadTable'],
  ['entry reserved byte', mutate(file, (dv, b) => { b[E0 + 39] = 1; }), 'ReservedNonZero'],
  ['name_len 0', mutate(file, (dv) => dv.setUint16(E0 + 40, 0, true)), 'BadTable'],
  ['entry reserved u16', mutate(file, (dv) => dv.setUint16(E0 + 42, 1, true)), 'ReservedNonZero'],
  ['block_checksum >= 2^26', mutate(file, (dv) => dv.setUint32(E0 + 44, 1 << 26, true)), 'BadTable'],
  ['checksum >= 2^26', mutate(file, (dv) => dv.setUint32(E0 + 32, 1 << 26, true)), 'BadTable'],
  ['name not UTF-8', mutate(file, (dv, b) => { b[E0 + 48 + 16] = 0xff; }), 'BadTable'],
  ['duplicate name', mutate(file, (dv, b) => { b[E1 + 48 + 8] = 'w'.charCodeAt(0); }), 'BadTable'],
  ['name padding not zero', mutate(file, (dv, b) => { b[E0 + 48 + 16 + 3] = 1; }), 'ReservedNonZero'],
  ['n >= 2^53', mutate(file, (dv) => { dv.setUint32(E0 + 48 + 4, 1 << 20, true); }), 'LimitExceeded'],
  ['a dimension >= 2^53 next to a 0', mutate(file, (dv) => { dv.setUint32(E0 + 48, 0, true); dv.setUint32(E0 + 48 + 8 + 4, 1 << 21, true); }), 'LimitExceeded'],
  ['metadata not JSON', mutate(file, (dv, b) => { b[META] = 0x7c; }), 'BadMetadata'],
  ['metadata not UTF-8', mutate(file, (dv, b) => { b[META + 2] = 0xc3; }), 'BadMetadata'],
  ['data_offset moved', mutate(file, (dv) => dv.setUint32(E0, wo + 8, true)), 'BadLayout'],
  ['data block past the end', mutate(file, (dv) => dv.setUint32(E1 + 8, 1 << 16, true)), 'BadLayout'],
  ['dequant_offset without dequant_size', mutate(file, (dv) => dv.setUint32(E0 + 16, 8, true)), 'BadLayout'],
  ['raw data_size not n * size', mutate(file, (dv) => { dv.setUint32(E1 + 48, 2, true); }), 'BadLayout'],
  ['P = 0', mutate(file, (dv, b) => { b[wo + 16] = 0; }), 'BadModel'],
  ['P = 16', mutate(file, (dv, b) => { b[wo + 16] = 16; }), 'BadModel'],
  ['rANS mode bit 2 (reserved)', mutate(file, (dv, b) => { b[wo + 17] = 4; }), 'ReservedNonZero'],
  ['rANS mode bit 7 (reserved)', mutate(file, (dv, b) => { b[wo + 17] = 0x80; }), 'ReservedNonZero'],
  ['rANS mode PRODUCT without PAIRS', mutate(file, (dv, b) => { b[wo + 17] = 2; }), 'BadModel'],
  ['rANS reserved u16', mutate(file, (dv) => dv.setUint16(wo + 18, 1, true)), 'ReservedNonZero'],
  ['V > 2^P', mutate(file, (dv, b) => { b[wo + 16] = 3; }), 'BadModel'],
  ['L = 0', mutate(file, (dv) => dv.setUint32(wo + 4, 0, true)), 'BadModel'],
  ['L > n', mutate(file, (dv) => dv.setUint32(wo + 4, 101, true)), 'BadModel'],
  ['W > n', mutate(file, (dv) => dv.setUint32(wo + 8, 101, true)), 'BadModel'],
  ['data_size disagrees with V, L, W', mutate(file, (dv) => dv.setUint32(wo + 8, w.words - 1, true)), 'BadModel'],
  ['cdf[0] != 0', mutate(file, (dv) => dv.setUint16(cdfAt, 1, true)), 'BadModel'],
  ['cdf not increasing', mutate(file, (dv) => dv.setUint16(cdfAt + 4, dv.getUint16(cdfAt + 2, true), true)), 'BadModel'],
  ['cdf[V] != 2^P', mutate(file, (dv) => dv.setUint16(cdfAt + 2 * w.vocabSize, 4095, true)), 'BadModel'],
  ['state below 2^16', mutate(file, (dv) => dv.setUint32(wo + 24, 65535, true)), 'BadModel'],
  ['header checksum wrong', mutate(file, (dv) => dv.setUint32(36, dv.getUint32(36, true) ^ 8, true), { fix: false }), 'ChecksumMismatch'],
  ['metadata changed, header checksum stale', mutate(file, (dv, b) => { b[META + 9] = 0x79; }, { fix: false }), 'ChecksumMismatch'],
  ['vocabulary value changed (block checksum)', mutate(file, (dv, b) => { b[wo + 24 + 4 * w.lanes] ^= 1; }), 'ChecksumMismatch'],
  ['ids checksum wrong', mutate(file, (dv) => dv.setUint32(E0 + 32, dv.getUint32(E0 + 32, true) ^ 0x100, true)), 'ChecksumMismatch'],
  ['raw value changed (low byte)', mutate(file, (dv, b) => { b[file.length - 4] ^= 0x01; }), 'ChecksumMismatch'],
  ['raw value changed (sign bit)', mutate(file, (dv, b) => { b[file.length - 1] ^= 0x80; }), 'ChecksumMismatch'],
  ['last word changed', mutate(file, (dv, b) => { b[wordsAt + 2 * w.words - 1] ^= 0x80; }), null],
  ['first word changed', mutate(file, (dv, b) => { b[wordsAt] ^= 0x01; }), null],
];

for (const [label, bytes, code] of BAD) {
  test(`bad file: ${label} -> ${code ?? 'CorruptStream or ChecksumMismatch'}`, () => {
    assert.throws(() => decode(bytes), (e) => {
      assert.ok(e instanceof AnspackError, `not an AnspackError: ${e}`);
      if (code) assert.equal(e.code, code, e.message);
      else assert.ok(['CorruptStream', 'ChecksumMismatch'].includes(e.code), e.message);
      assert.match(e.message, /byte offset \d+/, 'the message names the byte offset');
      assert.equal(typeof e.offset, 'number');
      return true;
    });
  });
}

test('stream errors are reported even when checksums are not verified', () => {
  // A state changed so the lane cannot end at 2^16: block checksum off, stream check still on.
  const b = mutate(file, (dv) => dv.setUint32(wo + 24, dv.getUint32(wo + 24, true) + 1, true));
  expectError(b, 'ChecksumMismatch');
  expectError(b, 'CorruptStream', { verify: false }, /lane|left over|under-run/);
  // Words left over: one extra word appended inside the block (data_size and W grown by one).
  const grown = new Uint8Array(file.length + 8);
  grown.set(file.subarray(0, wordsAt + 2 * w.words));
  grown.set(file.subarray(wordsAt + 2 * w.words), wordsAt + 2 * w.words + 2);
  const dv = new DataView(grown.buffer);
  dv.setUint32(16, grown.length - 6, true);
  dv.setUint32(E0 + 8, w.dataSize + 2, true);
  dv.setUint32(wo + 8, w.words + 1, true);
  // Re-place the raw block of "b" (8-aligned after the grown block) and fix the file size.
  const bStart = Math.ceil((wo + w.dataSize + 2) / 8) * 8;
  const fixed = new Uint8Array(bStart + 12);
  fixed.set(grown.subarray(0, wo + w.dataSize + 2));
  fixed.set(file.subarray(file.length - 12), bStart);
  const fdv = new DataView(fixed.buffer);
  fdv.setUint32(16, fixed.length, true);
  fdv.setUint32(E1, bStart, true);
  refresh(fixed);
  expectError(fixed, 'CorruptStream', { verify: false }, /left over/);
  expectError(fixed, 'ChecksumMismatch', {}, /block_checksum/); // W is covered by the block checksum
  fdv.setUint32(E0 + 44, fxhash26Ref(fixed.subarray(wo, wordsAt)), true);
  refresh(fixed);
  expectError(fixed, 'CorruptStream', {}, /left over/);
});

test('limits are checked before allocating: a single-valued 2^40-entry tensor in a tiny file', () => {
  const f = encodeFile([{ name: 'big', dtype: 'int8', shape: [4], data: [1, 1, 1, 1], lanes: 1 }]);
  const big = mutate(f, (dv) => { dv.setUint32(40 + 48, 0, true); dv.setUint32(40 + 48 + 4, 256, true); });
  expectError(big, 'LimitExceeded', {}, /maxEntries/);
  assert.equal(readHeader(big, { maxEntries: Infinity }).tensors[0].n, 2 ** 40);
  expectError(big, 'LimitExceeded', { maxEntries: Infinity }, /maxTotalEntries/);
  expectError(big, 'LimitExceeded', { maxEntries: Infinity, maxTotalEntries: Infinity }, /2\^31/);
});

test('metadata must be an object', () => {
  for (const meta of [[1, 2], 'str', 3, null]) {
    const f = encodeFile([], { x: 1 });
    const text = new TextEncoder().encode(JSON.stringify(meta));
    const b = new Uint8Array(40 + text.length);
    b.set(f.subarray(0, 40));
    b.set(text, 40);
    const dv = new DataView(b.buffer);
    dv.setUint32(16, b.length, true);
    dv.setUint32(32, text.length, true);
    expectError(refresh(b), 'BadMetadata', {}, /object/);
  }
});

test('a file with no tensors and no metadata is 40 bytes and valid', () => {
  const f = encodeFile([]);
  assert.equal(f.length, 40);
  const r = decode(f);
  assert.deepEqual(r.tensors, []);
  assert.deepEqual(r.metadata, {});
});
