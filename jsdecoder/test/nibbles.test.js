// decode()'s `nibbles` option: int8 / uint8 tensors whose values fit in 4 bits come back packed two a
// byte (dtype int4 / uint4), equal to packing decode()'s entries, through every path that decodes them
// (PAIRS and PRODUCT straight into the bytes, row groups in place, temporaries for the others; both
// engines; decodeTensor, outputs, decodeAsync, decodeStream), and with the same errors as decode().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { decode, decodeTensor, decodeAsync, decodeStream, decodeGPU, readHeader, packNibbles, AnspackError } from '../src/index.js';
import { encodeFile, rng, randomInts, perTensorAffine } from './helpers/encoder.js';
import { errorOf } from './helpers/engines.js';
import { sameTensors, streamResult } from './helpers/compare.js';

const VECTORS = new URL('../../tests/vectors/', import.meta.url);

function packed(entries) {
  const out = new Uint8Array(Math.ceil(entries.length / 2));
  for (let i = 0; i < entries.length; i++) out[i >> 1] |= (entries[i] & 15) << (4 * (i & 1));
  return out;
}

const fits = (t) => (t.dtype === 'int8' ? t.data.every((v) => v >= -8 && v <= 7) : t.dtype === 'uint8' && t.data.every((v) => v <= 15));

/** `got` (decoded with nibbles) against `want` (decode() of the same file): packed where the values fit. */
function sameAsPacked(got, want, label) {
  assert.equal(got.tensors.length, want.tensors.length, label);
  let n = 0;
  want.tensors.forEach((w, i) => {
    const g = got.tensors[i];
    assert.equal(g.name, w.name, label);
    assert.equal(g.checksum, w.checksum, `${label}: ${w.name}`);
    assert.deepEqual(g.shape, w.shape);
    if (w.storedDtype === undefined && fits(w)) {
      n++;
      assert.equal(g.dtype, w.dtype === 'int8' ? 'int4' : 'uint4', `${label}: ${w.name}`);
      assert.equal(g.storedDtype, w.dtype);
      assert.ok(g.data instanceof Uint8Array, `${label}: ${w.name}`);
      assert.deepEqual(g.data, packed(w.data), `${label}: ${w.name}`);
    } else {
      assert.equal(g.dtype, w.dtype, `${label}: ${w.name}`);
      assert.deepEqual(g.data, w.data, `${label}: ${w.name}`);
    }
  });
  return n;
}

function nibbleFile() {
  const r = rng(41);
  const dq = perTensorAffine(0.5);
  const int4 = (n, s = 3) => randomInts(r, n, s, -8, 7);
  const rowsOf = (R, G) => Array.from({ length: R }, (_, i) => (i * 7) % G);
  return encodeFile([
    { name: 'pairs', dtype: 'int8', shape: [40, 64], data: int4(2560), lanes: 8, pairs: true },
    { name: 'product', dtype: 'int8', shape: [4096], data: int4(4096, 2), lanes: 8, product: true, chunk: 500 },
    { name: 'uproduct', dtype: 'uint8', shape: [30, 20], data: randomInts(r, 600, 3, 0, 15), lanes: 4, product: true },
    // row groups of PAIRS sub-blocks (rows in place with the wasm engine), and of plain ones
    { name: 'groups.pairs', dtype: 'int8', shape: [24, 32], data: int4(768), lanes: 8, product: true, groups: rowsOf(24, 3), chunk: 64 },
    { name: 'groups.plain', dtype: 'int8', shape: [20, 9], data: int4(180), lanes: 4, groups: rowsOf(20, 2) },
    { name: 'plain.odd', dtype: 'int8', shape: [333], data: int4(333), lanes: 5 },
    { name: 'uint.chunks', dtype: 'uint8', shape: [1001], data: randomInts(r, 1001, 4, 0, 15), lanes: 8, chunk: 200 },
    { name: 'raw.fits', dtype: 'int8', shape: [7], data: [-8, 7, 0, -1, 3, -5, 1], raw: true },
    { name: 'raw.wide', dtype: 'int8', shape: [4], data: [-9, 1, 2, 3], raw: true },
    { name: 'wide', dtype: 'int8', shape: [500], data: [-20, 9, ...int4(498)], lanes: 4 },  // two values beyond 4 bits
    { name: 'wide.pairs', dtype: 'uint8', shape: [200], data: [16, ...randomInts(r, 199, 3, 0, 15)], lanes: 4, pairs: true },
    { name: 'const', dtype: 'int8', shape: [9], data: new Array(9).fill(-3), lanes: 2 },
    { name: 'empty', dtype: 'int8', shape: [0], data: [] },
    { name: 'deq', dtype: 'int8', shape: [16, 8], data: int4(128), lanes: 4, pairs: true, dequant: dq },
    { name: 'i16', dtype: 'int16', shape: [50], data: int4(50), lanes: 2 },
    { name: 'f32', dtype: 'float32', shape: [3], data: [0.5, 1, -2] },
  ], { purpose: 'nibbles' });
}

test('packNibbles packs entries two a byte, the even one low (every length, both loops)', () => {
  const r = rng(3);
  for (let n = 0; n < 40; n++) {
    const e = Int8Array.from(randomInts(r, n, 4, -8, 7));
    const out = new Uint8Array(Math.ceil(n / 2)).fill(0xee);
    packNibbles(e, out);
    assert.deepEqual(out, packed(e), `n = ${n}`);
    const u = Uint8Array.from(e, (v) => v & 15);
    const out2 = new Uint8Array(Math.ceil(n / 2) + 1).subarray(1);  // an odd byte offset: the byte loop
    packNibbles(u, out2);
    assert.deepEqual(out2, packed(u));
  }
});

test('nibbles: the tensors that fit come back packed, through every block kind and both engines', () => {
  const f = nibbleFile();
  const want = decode(f);
  for (const engine of ['wasm', 'js']) {
    for (const twoStreams of [true, false]) {
      const got = decode(f, { nibbles: true, engine, twoStreams });
      const n = sameAsPacked(got, want, `${engine} ${twoStreams}`);
      assert.equal(n, 11, 'pairs, product, uproduct, both groups, plain.odd, uint.chunks, raw.fits, const, empty, deq');
      assert.deepEqual(got.byName['plain.odd'].data.length, 167);
      assert.equal(got.byName['plain.odd'].data[166] >> 4, 0, 'an odd n leaves the last high nibble 0');
      assert.equal(got.byName['raw.wide'].dtype, 'int8');
      assert.equal(got.byName.wide.dtype, 'int8');
      assert.equal(got.byName['wide.pairs'].dtype, 'uint8');
      assert.equal(got.byName.i16.dtype, 'int16', 'only 1-byte dtypes');
    }
  }
  // dequantized tensors are not packed; the others are
  const dq = decode(f, { nibbles: true, dequantize: true });
  assert.equal(dq.byName.deq.dtype, 'float32');
  assert.deepEqual(dq.byName.deq.data, decode(f, { dequantize: true }).byName.deq.data);
  assert.equal(dq.byName.pairs.dtype, 'int4');
  // decodeTensor
  for (const name of ['pairs', 'groups.pairs', 'groups.plain', 'raw.fits', 'wide']) {
    const t = decodeTensor(f, name, { nibbles: true });
    assert.deepEqual(t, decode(f, { nibbles: true }).byName[name], name);
  }
});

test("nibbles into the caller's arrays: a Uint8Array of ceil(n / 2), else BadArgument", () => {
  const f = nibbleFile();
  const want = decode(f, { nibbles: true });
  const out = new Uint8Array(1300).fill(9);  // pairs: 1280 bytes
  const got = decode(f, { nibbles: true, outputs: { pairs: out } });
  assert.equal(got.byName.pairs.data.buffer, out.buffer);
  assert.deepEqual(out.subarray(0, 1280), want.byName.pairs.data);
  assert.deepEqual(Array.from(out.subarray(1280)), new Array(20).fill(9));
  for (const bad of [new Int8Array(1280), new Uint8Array(1279)]) {
    const e = errorOf(() => decode(f, { nibbles: true, outputs: { pairs: bad } }));
    assert.equal(e.code, 'BadArgument');
    assert.match(e.message, /Uint8Array of length >= 1280/);
  }
  assert.equal(errorOf(() => decode(f, { nibbles: 'yes' })).code, 'BadArgument');
});

test('nibbles with decodeAsync (1 and 2 workers, into outputs), decodeStream; decodeGPU checks the option', async () => {
  const f = nibbleFile();
  const want = decode(f, { nibbles: true });
  for (const workers of [1, 2]) sameTensors(await decodeAsync(f, { workers, nibbles: true }), want, `workers ${workers}`);
  const out = new Uint8Array(1280);
  const got = await decodeAsync(f, { workers: 2, nibbles: true, outputs: { pairs: out } });
  assert.equal(got.byName.pairs.data.buffer, out.buffer);
  assert.deepEqual(out, want.byName.pairs.data);
  async function* pieces() { for (let i = 0; i < f.length; i += 700) yield f.subarray(i, i + 700); }
  for (const workers of [0, 2]) {
    const streamed = [];
    for await (const t of decodeStream(pieces(), { nibbles: true, workers })) streamed.push(t);
    sameTensors(streamResult(streamed, want.metadata), want, `decodeStream, ${workers} workers`);
  }
  // (decodeGPU's results with nibbles are compared with decode()'s in Chromium: tests/test_browser_gpu.py)
  const e = await decodeGPU(f, { nibbles: 'yes' }).then(() => null, (x) => x);
  assert.ok(e instanceof AnspackError);
  assert.equal(e.code, 'BadArgument');
  assert.match(e.message, /nibbles must be a boolean/);
});

test('nibbles: the golden vectors (same as packing decode()) and every bad vector fails as without them', () => {
  const files = readdirSync(VECTORS).filter((f) => f.endsWith('.anspack'));
  let total = 0;
  for (const f of files) {
    const bytes = readFileSync(new URL(f, VECTORS));
    for (const engine of ['wasm', 'js']) total += sameAsPacked(decode(bytes, { nibbles: true, engine }), decode(bytes, { engine }), `${f} ${engine}`);
  }
  assert.ok(total > 0, 'some vector tensors fit in 4 bits');
  const bad = new URL('bad/', VECTORS);
  for (const name of Object.keys(JSON.parse(readFileSync(new URL('index.json', bad))))) {
    const bytes = readFileSync(new URL(`${name}.anspack`, bad));
    const a = errorOf(() => decode(bytes, { nibbles: true }));
    const b = errorOf(() => decode(bytes));
    assert.deepEqual([a.code, a.offset, a.tensor, a.message], [b.code, b.offset, b.tensor, b.message], name);
  }
});

test("nibbles: a corrupt word in a paired block and in row-group blocks gives decode()'s error", () => {
  const f = nibbleFile();
  const infos = readHeader(f).tensors;
  for (const name of ['pairs', 'product', 'groups.pairs', 'groups.plain', 'plain.odd']) {
    const info = infos.find((t) => t.name === name);
    const bad = f.slice();
    bad[info.dataOffset + info.dataSize - 5] ^= 0x5a;
    for (const engine of ['wasm', 'js']) {
      const a = errorOf(() => decode(bad, { nibbles: true, engine }));
      const b = errorOf(() => decode(bad, { engine }));
      assert.ok(a instanceof AnspackError, `${name} ${engine}`);
      assert.equal(a.tensor, name);
      assert.deepEqual([a.code, a.offset, a.tensor, a.message], [b.code, b.offset, b.tensor, b.message], `${name} ${engine}`);
    }
  }
});

test('nibbles with decodeAsync: a big PAIRS tensor is split over the workers (its ranges put together as bytes); what would be packed apart is not', async () => {
  const { parseHeader } = await import('../src/header.js');
  const { __test } = await import('../src/async.js');
  const r = rng(5);
  const dq = perTensorAffine(0.5);
  const f = encodeFile([
    { name: 'w', dtype: 'int8', shape: [500, 200], data: randomInts(r, 100000, 3, -8, 7), lanes: 8, chunk: 2000, product: true },
    { name: 'plain', dtype: 'uint8', shape: [9000], data: randomInts(r, 9000, 4, 0, 15), lanes: 8, chunk: 1000 },
    { name: 'wide', dtype: 'int8', shape: [9000], data: [-100, ...randomInts(r, 8999, 5, -20, 20)], lanes: 8, chunk: 1000 },
    { name: 'deq', dtype: 'int8', shape: [40, 200], data: randomInts(r, 8000, 3, -8, 7), lanes: 8, chunk: 500, pairs: true, dequant: dq },
  ]);
  const hdr = parseHeader(f);
  const byName = Object.fromEntries(hdr.tensors.map((t) => [t.name, t]));
  const can = (opts) => Object.fromEntries(Object.entries(byName).map(([n, t]) => [n, __test.splittableFor(hdr.bytes, { nibbles: false, dequantize: false, ...opts })(t)]));
  assert.deepEqual(can({}), { w: true, plain: true, wide: true, deq: true });
  // packed PAIRS: yes; packed after decoding: no; does not fit: yes; fits but dequantized (its pieces would be packed): no
  assert.deepEqual(can({ nibbles: true }), { w: true, plain: false, wide: true, deq: true });
  assert.deepEqual(can({ nibbles: true, dequantize: true }), { w: true, plain: false, wide: true, deq: false });
  const plan = __test.planItems(hdr.tensors, 2, __test.splittableFor(hdr.bytes, { nibbles: true }));
  assert.ok(plan.split.has(0), 'w is split over the two workers');
  for (const options of [{ nibbles: true }, { nibbles: true, dequantize: true }]) {
    const want = decode(f, options);
    for (const workers of [2, 3]) {
      const got = await decodeAsync(f, { ...options, workers });
      sameTensors(got, want, `${workers} workers`);
      // the split tensor's bytes: the home range's array of the whole n / 2, owned alone
      const w = got.byName.w.data;
      assert.deepEqual([w.byteOffset, w.buffer.byteLength, w.length], [0, 50000, 50000]);
    }
  }
  // decodeStream with a pool: the chunked tensors go through the same split
  const want = decode(f, { nibbles: true });
  const streamed = [];
  async function* halves() { yield f.subarray(0, 5000); yield f.subarray(5000); }
  for await (const t of decodeStream(halves(), { nibbles: true, workers: 2 })) streamed.push(t);
  sameTensors(streamResult(streamed, want.metadata), want, 'decodeStream, 2 workers');
  // into the caller's array
  const out = new Uint8Array(50010).fill(7);
  const got = await decodeAsync(f, { workers: 2, nibbles: true, outputs: { w: out } });
  assert.equal(got.byName.w.data.buffer, out.buffer);
  assert.deepEqual(out.subarray(0, 50000), decode(f, { nibbles: true }).byName.w.data);
  assert.deepEqual(Array.from(out.subarray(50000)), new Array(10).fill(7));
  // a corrupt word in a range of the split tensor: decode()'s error
  const info = readHeader(f).tensors[0];
  const bad = f.slice();
  bad[info.dataOffset + info.dataSize - 7] ^= 0x33;
  const e1 = errorOf(() => decode(bad, { nibbles: true }));
  const e2 = await decodeAsync(bad, { workers: 2, nibbles: true }).then(() => null, (e) => e);
  assert.ok(e2 instanceof AnspackError);
  assert.deepEqual([e2.code, e2.offset, e2.tensor, e2.message], [e1.code, e1.offset, e1.tensor, e1.message]);
});
