// Spec revision 4: coding 2, row groups (spec/FORMAT.md section 7.4). Files written by the JS test
// encoder (helpers/encoder.js, `groups`: a row map) decode to their entries through every path:
// decode() with both engines, decodeTensor, the reference decoder (reference.js: its own reading of
// the group header and row map, decodeTensorReference per sub-block, placeRowsReference),
// decodeAsync on 1 and 2 workers (sub-blocks as jobs, a big chunked one cut into ranges),
// decodeStream and fetchTensor; and every rule of section 13 (rules 4, 7, 9) for coding 2 is
// rejected with its error, byte offset and tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, decodeTensor, decodeAsync, decodeStream, fetchTensor, readHeader, createDecoderPool, AnspackError } from '../src/index.js';
import { parseHeader, ransArrays, blockChecksum } from '../src/header.js';
import { decodeTensorReference, groupLayoutReference, placeRowsReference } from '../src/reference.js';
import { encodeFile, fxhash26Ref, rng, perTensorAffine } from './helpers/encoder.js';
import { errorOf, asyncErrorOf, decodeEveryEngine } from './helpers/engines.js';
import { sameTensor, chunkedStream, collect, streamError, rangeServer } from './helpers/streams.js';

const ARRAYS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array };
const RANGES = { int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1] };
const bytesOf = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/**
 * R rows of C entries of `dtype` whose distribution depends on the row's group: group g's rows are
 * spread over about 2 + 3g values around an offset of its own (so the groups' models differ).
 */
function rowsByGroup(r, map, C, dtype) {
  const [lo, hi] = RANGES[dtype];
  const out = [];
  for (const g of map) {
    const spread = 2 + 3 * (g % 7), base = lo < 0 ? g % 5 - 2 : g % 5;
    for (let i = 0; i < C; i++) {
      const v = base + Math.round((r() + r() + r() - 1.5) * spread);
      out.push(Math.max(lo, Math.min(hi, v)));
    }
  }
  return out;
}

/** A row map of R rows over G groups, each group owning at least one row, otherwise random. */
function randomMap(r, R, G) {
  const map = Array.from({ length: R }, (_, i) => (i < G ? i : Math.floor(r() * G)));
  for (let i = R - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [map[i], map[j]] = [map[j], map[i]]; }
  return map;
}

/** The reference decoder on a coding-2 tensor: its own reading of the block, each sub-block by decodeTensorReference. */
function reference(bytes, name) {
  const hdr = parseHeader(bytes, { verify: false });
  const t = hdr.tensors.find((x) => x.name === name);
  const lay = groupLayoutReference(hdr.bytes.subarray(t.dataOffset, t.dataOffset + t.dataSize), t.shape[0]);
  const entries = [], checksums = [];
  t.groups.forEach((sub, g) => {
    assert.equal(sub.dataOffset, t.dataOffset + lay.offsets[g], `${name} group ${g} offset`);
    assert.equal(sub.dataSize, lay.sizes[g]);
    const m = ransArrays(hdr.bytes, sub);
    let cdf = m.cdf, values = Array.from(m.vals);
    if (sub.product) {  // the stored entry model: decodeTensorReference derives the pair model itself
      const dv = new DataView(hdr.bytes.buffer, hdr.bytes.byteOffset);
      cdf = Array.from({ length: sub.vocabSize + 1 }, (_, s) => dv.getUint16(sub.cdfOffset + 2 * s, true));
      values = Array.from({ length: sub.vocabSize }, (_, s) => (sub.dtype === 'int8' ? dv.getInt8(sub.valuesOffset + s) : dv.getUint8(sub.valuesOffset + s)));
    }
    const ref = decodeTensorReference({ ...m, cdf, words: Array.from(m.words).slice(0, sub.words) }, values,
      { pairs: sub.pairs, product: sub.product, signed: sub.dtype === 'int8' });
    assert.equal(ref.status, 'ok', `${name} group ${g}`);
    assert.equal(ref.checksum, lay.checksums[g], `${name} group ${g}: the ids hash to group_checksums[g]`);
    entries.push(ref.entries);
    checksums.push(lay.checksums[g]);
  });
  return { ...placeRowsReference(lay.map, t.n / t.shape[0], entries, checksums), layout: lay, t };
}

/** Every synchronous path on a file of coding-2 tensors: all equal the entries. */
function checkFile(bytes, tensors, label) {
  const info = readHeader(bytes).tensors;
  const results = decodeEveryEngine(bytes);
  tensors.forEach((t, i) => {
    if (!t.groups) return;
    const want = bytesOf(ARRAYS[t.dtype].from(t.data));
    assert.equal(info[i].coding, 'groups', label);
    assert.deepEqual(Array.from(info[i].rowMap), Array.from(t.groups), `${label} ${t.name} row map`);
    assert.equal(info[i].groupCount, Math.max(...t.groups) + 1);
    for (const r of results) {
      assert.ok(bytesOf(r.tensors[i].data).equals(want), `${label} ${t.name}`);
      assert.equal(r.tensors[i].checksum, info[i].checksum, `${label} ${t.name}`);
    }
    for (const engine of ['js', 'wasm']) assert.ok(bytesOf(decodeTensor(bytes, t.name, { engine }).data).equals(want), `${label} ${t.name} decodeTensor`);
    // into a caller's array at an odd byte offset
    const big = new (ARRAYS[t.dtype])(t.data.length + 2);
    const odd = big.subarray(1, 1 + t.data.length);
    assert.equal(decodeTensor(bytes, t.name, { out: odd }).data, odd);
    assert.ok(bytesOf(odd).equals(want), `${label} ${t.name} out`);
    const ref = reference(bytes, t.name);
    assert.deepEqual(ref.layout.map, Array.from(t.groups));
    assert.equal(ref.layout.highBits, 0n);
    assert.deepEqual(ref.entries, Array.from(ARRAYS[t.dtype].from(t.data)), `${label} ${t.name} reference`);
    assert.equal(ref.checksum, info[i].checksum, `${label} ${t.name} reference checksum`);
  });
}

test('round trips: every integer dtype, G = 2 .. 256, R*b not a multiple of 8, pairs / PRODUCT / chunked sub-blocks', () => {
  const r = rng(7401);
  // [R, C, G]: b = 1 (13 bits), 2 (14 bits), 3 (33 bits: groups straddle bytes), 5, 7, 8 (G = 256 = R)
  const shapes = [[13, 6, 2], [7, 10, 3], [11, 4, 5], [20, 3, 17], [70, 2, 100], [256, 3, 256], [300, 1, 256]];
  for (const [k, dtype] of Object.keys(ARRAYS).entries()) {
    const tensors = shapes.map(([R, C, G], j) => {
      const map = randomMap(r, R, G);
      return { name: `t${j}`, dtype, shape: [R, C], data: rowsByGroup(r, map, C, dtype), lanes: 1 + ((j + k) % 5), precision: 10 + (j % 5), groups: map };
    });
    checkFile(encodeFile(tensors), tensors, dtype);
  }
  // 3-d, sub-blocks with pairs, PRODUCT pairs and chunks (each group its own options)
  const map = randomMap(r, 24, 4);
  const tensors = [
    { name: 'p', dtype: 'int8', shape: [24, 5, 4], data: rowsByGroup(r, map, 20, 'int8'), lanes: 4, precision: 12, groups: map,
      groupOptions: [{ pairs: true }, { product: true, precision: 10 }, { chunk: 17, lanes: 3 }, { product: true, chunk: 9, lanes: 2 }] },
    { name: 'c', dtype: 'uint16', shape: [24, 20], data: rowsByGroup(r, map, 20, 'uint16'), lanes: 8, chunk: 25, groups: map },
    { name: 'plain', dtype: 'int16', shape: [24, 20], data: rowsByGroup(r, map, 20, 'int16'), lanes: 3 },
    { name: 'raw', dtype: 'float32', shape: [3], data: [1, 2, 3] },
    // group 1 (pairs) starts at entry 9, an odd byte offset of the output (decoded through a copy)
    { name: 'odd', dtype: 'uint8', shape: [7, 3], data: rowsByGroup(r, [0, 1, 1, 1, 1, 0, 0], 3, 'uint8'), lanes: 2, groups: [0, 1, 1, 1, 1, 0, 0], groupOptions: [{}, { pairs: true }] },
    // a group of one value (V = 1: filled, no stream), with 4-byte values (the ids mapped when copied out)
    { name: 'one', dtype: 'int32', shape: [6, 5], data: [0, 1, 0, 1, 1, 0].flatMap((g, i) => Array.from({ length: 5 }, (_, j) => (g ? -7 : 1000 * i + j))), lanes: 2, groups: [0, 1, 0, 1, 1, 0] },
    { name: 'one8', dtype: 'int8', shape: [6, 4], data: [1, 1, 0, 0, 1, 0].flatMap((g, i) => Array.from({ length: 4 }, (_, j) => (g ? 5 : i - j))), lanes: 2, groups: [1, 1, 0, 0, 1, 0], groupOptions: [{}, { pairs: true }] },
  ];
  const bytes = encodeFile(tensors, { m: 1 });
  const info = readHeader(bytes).tensors;
  assert.deepEqual(info[0].groups.map((g) => [g.pairs, g.product, g.chunks]), [[true, false, 1], [true, true, 1], [false, false, Math.ceil(info[0].groups[2].symbols / 17)], [true, true, Math.ceil(info[0].groups[3].symbols / 9)]]);
  assert.ok(info[1].groups.every((g) => g.chunks > 1));
  assert.deepEqual([info[5].groups[1].vocabSize, info[6].groups[1].vocabSize, info[6].groups[1].pairs], [1, 1, true]);
  checkFile(bytes, tensors, 'mixed');
});

test('rows in place with chunks four at a time (L = 8, rans_quad.wat) and two at a time: every engine equal; a corrupt word anywhere fails as in the js engine', () => {
  const r = rng(8808);
  const map = randomMap(r, 40, 3);
  const tensors = [
    { name: 'q', dtype: 'int8', shape: [40, 64], data: rowsByGroup(r, map, 64, 'int8'), lanes: 8, chunk: 64, groups: map },
    { name: 'p', dtype: 'uint8', shape: [40, 64], data: rowsByGroup(r, map, 64, 'uint8'), lanes: 8, chunk: 32, groups: map,
      groupOptions: [{ product: true }, { pairs: true }, { chunk: 128 }] },
    { name: 'w', dtype: 'int16', shape: [40, 16], data: rowsByGroup(r, map, 16, 'int16'), lanes: 4, chunk: 16, groups: map },
  ];
  const bytes = encodeFile(tensors);
  const info = parseHeader(bytes).tensors;
  for (const t of info) for (const sub of t.groups) assert.ok(sub.chunks >= 5, `${t.name} group ${sub.group}: ${sub.chunks} chunks`);
  checkFile(bytes, tensors, 'four at a time');
  let failed = 0;
  for (const t of info) {
    for (const sub of t.groups) {
      for (const frac of [0.02, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 0.99]) {
        const bad = bytes.slice();
        bad[sub.wordsOffset + 2 * Math.floor(sub.words * frac)] ^= 0x5a;
        const want = errorOf(() => decode(bad, { engine: 'js' }));
        for (const options of [{ engine: 'wasm' }, { engine: 'wasm', twoStreams: false }]) {
          const e = errorOf(() => decode(bad, options));
          assert.deepEqual([e?.code, e?.offset, e?.tensor, e?.message], [want?.code, want?.offset, want?.tensor, want?.message], `${t.name} group ${sub.group} at ${frac}`);
        }
        if (want !== null) failed++;
      }
    }
  }
  assert.ok(failed > 50, `${failed} corrupt files rejected`);
});

test('the test encoder writes spec section 7.4 and section 11: header fields, map bits, block and table checksums', () => {
  // R = 5 rows, G = 3 (b = 2): map 2,0,1,0,2 = bits 10 00 01 00 10 -> 0b10_00_01_00_10 read LSB first
  const map = [2, 0, 1, 0, 2];
  const data = [5, 5, 5, 1, 2, 3, 7, 7, 8, 1, 1, 2, 6, 5, 6];
  const bytes = encodeFile([{ name: 'w', dtype: 'uint8', shape: [5, 3], data, lanes: 2, groups: map }]);
  const t = parseHeader(bytes).tensors[0];
  const o = t.dataOffset;
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(dv.getUint32(o, true), 3);
  assert.equal(dv.getUint32(o + 4, true), 0);
  const mapAt = o + 8 + 12 * 3;
  assert.deepEqual([bytes[mapAt], bytes[mapAt + 1]], [0b00010010, 0b10]);  // rows 0-3 in byte 0, row 4 in byte 1
  assert.equal(t.groups[0].dataOffset, o + 48);  // H = align8(8 + 36 + 2) = 48
  assert.deepEqual(t.groups.map((g) => g.rows), [2, 1, 2]);
  const sums = t.groups.map((g) => g.checksum);
  assert.equal(t.checksum, fxhash26Ref(sums));
  // block_checksum: all but the sub-blocks' words, in file order
  const covered = [...bytes.subarray(o, t.groups[0].dataOffset)];
  t.groups.forEach((g, i) => {
    covered.push(...bytes.subarray(g.dataOffset, g.wordsOffset));
    const next = i + 1 < t.groups.length ? t.groups[i + 1].dataOffset : g.dataOffset + g.dataSize;
    covered.push(...bytes.subarray(g.dataOffset + g.dataSize, next));
  });
  assert.equal(t.blockChecksum, fxhash26Ref(covered));
  assert.equal(blockChecksum(bytes, t), t.blockChecksum);
  assert.deepEqual(Array.from(decode(bytes).tensors[0].data), data);
});

/** A grouped int8 tensor big enough that decodeAsync cuts its chunked main group into ranges. */
function bigGrouped() {
  const r = rng(7402);
  const R = 400, C = 640;
  const map = Array.from({ length: R }, (_, i) => (i % 10 === 3 ? 1 : i % 29 === 5 ? 2 : 0));
  const dq = perTensorAffine(0.25, 1);
  const tensors = [
    { name: 'emb', dtype: 'int8', shape: [R, C], data: rowsByGroup(r, map, C, 'int8'), lanes: 8, precision: 12, groups: map, dequant: dq,
      groupOptions: [{ chunk: 8192 }, { product: true, chunk: 4096 }, { pairs: true }] },
    { name: 'small', dtype: 'int16', shape: [40, 30], data: rowsByGroup(r, map.slice(0, 40), 30, 'int16'), lanes: 4, groups: map.slice(0, 40) },
    { name: 'plain', dtype: 'int8', shape: [5000], data: rowsByGroup(r, [0], 5000, 'int8'), lanes: 8, chunk: 1000 },
  ];
  return { tensors, bytes: encodeFile(tensors) };
}

test('decodeAsync on 1 and 2 workers: sub-blocks as jobs (a big chunked one in ranges, PAIRS / PRODUCT ones), same tensors as decode()', async () => {
  const { tensors, bytes } = bigGrouped();
  const { __test } = await import('../src/async.js');
  const hdr = parseHeader(bytes);
  const plan = __test.planItems(hdr.tensors, 2);
  const mine = plan.items.filter((it) => it.tensor === 0);
  assert.ok(mine.every((it) => it.group !== undefined), 'the grouped tensor is scheduled by its sub-blocks');
  assert.ok(mine.filter((it) => it.group === 0).length >= 2, `group 0 cut into chunk ranges: ${JSON.stringify(mine.map((it) => [it.group, it.k0, it.k1]))}`);
  assert.ok(new Set(mine.map((it) => plan.groups.findIndex((g) => g.includes(plan.items.indexOf(it))))).size === 2, 'its pieces go to both workers');
  // a grouped tensor below a worker's share goes whole (the worker's decode() places its rows)
  assert.deepEqual(plan.items.filter((it) => it.tensor === 1).map((it) => it.group), [undefined]);
  const info = readHeader(bytes).tensors[0];
  assert.deepEqual(info.groups.map((g) => [g.pairs, g.product, g.chunks > 1]), [[false, false, true], [true, true, true], [true, false, false]]);
  for (const options of [{}, { dequantize: true }, { verify: false }]) {
    const want = decode(bytes, options).tensors;
    assert.ok(bytesOf(decode(bytes).tensors[0].data).equals(bytesOf(Int8Array.from(tensors[0].data))));
    for (const workers of [1, 2]) {
      const got = (await decodeAsync(bytes, { ...options, workers })).tensors;
      got.forEach((g, i) => sameTensor(g, want[i]));
    }
  }
  // outputs: the rows are placed straight into the caller's array
  const out = new Int8Array(info.n);
  const got = await decodeAsync(bytes, { workers: 2, outputs: { emb: out } });
  assert.equal(got.byName.emb.data, out);
  assert.ok(bytesOf(out).equals(bytesOf(Int8Array.from(tensors[0].data))));
  // an output array of the wrong type: decode()'s error
  const wrong = { outputs: { emb: new Int16Array(info.n) } };
  const want = errorOf(() => decode(bytes, wrong));
  const e = await asyncErrorOf(decodeAsync(bytes, { ...wrong, workers: 2 }));
  assert.deepEqual([e?.code, e?.tensor, e?.message], [want.code, want.tensor, want.message]);
  // a pool kept between files
  const pool = await createDecoderPool(2);
  try {
    for (let k = 0; k < 2; k++) (await pool.decode(bytes)).tensors.forEach((g, i) => sameTensor(g, decode(bytes).tensors[i]));
  } finally {
    await pool.terminate();
  }
});

test('decodeAsync reports what decode() reports for a corrupt sub-block word, a range of chunks, a group checksum', async () => {
  const { bytes } = bigGrouped();
  const info = readHeader(bytes).tensors[0];
  const cases = [];
  for (const g of [0, 1, 2]) {
    const sub = info.groups[g];
    for (const frac of [0.1, 0.5, 0.95]) {
      const bad = bytes.slice();
      bad[sub.dataOffset + sub.dataSize - 2 * Math.max(1, Math.floor(sub.words * frac))] ^= 0x24;
      cases.push(bad);
    }
  }
  cases.push(resealed(bytes, (dv) => dv.setUint32(info.dataOffset + 8 + 8 * 3 + 4, dv.getUint32(info.dataOffset + 8 + 8 * 3 + 4, true) ^ 1, true)));
  for (const bad of cases) {
    const want = errorOf(() => decode(bad));
    assert.ok(want instanceof AnspackError && want.tensor === 'emb' && /group \d/.test(want.message), String(want));
    for (const workers of [1, 2]) {
      const e = await asyncErrorOf(decodeAsync(bad, { workers }));
      assert.deepEqual([e.code, e.offset, e.tensor, e.message], [want.code, want.offset, want.tensor, want.message]);
    }
  }
});

test('decodeStream (any chunk size, with workers) and fetchTensor equal decode(); remote errors as decode()', async () => {
  const { bytes } = bigGrouped();
  const want = decode(bytes).tensors;
  for (const options of [{}, { workers: 2 }]) {
    for (const size of [1000, 65536]) {
      const got = await collect(chunkedStream(bytes, size).stream, options);
      got.forEach((g, i) => sameTensor(g, want[i]));
    }
  }
  const r = rng(7403);
  const map = randomMap(r, 9, 3);
  const tensors = [
    { name: 'a', dtype: 'uint8', shape: [9, 14], data: rowsByGroup(r, map, 14, 'uint8'), lanes: 3, groups: map, groupOptions: [{ pairs: true }, { chunk: 10 }, {}] },
    { name: 'b', dtype: 'int32', shape: [9, 2], data: rowsByGroup(r, map, 2, 'int32'), lanes: 2, groups: map },
  ];
  const small = encodeFile(tensors);
  const swant = decode(small).tensors;
  for (const size of [1, 7]) (await collect(chunkedStream(small, size).stream)).forEach((g, i) => sameTensor(g, swant[i]));
  const info = readHeader(small).tensors;
  const bad = small.slice();
  const sub = info[0].groups[1];
  bad[sub.dataOffset + sub.dataSize - 2] ^= 0x41;
  const wantErr = errorOf(() => decode(bad));
  assert.ok(wantErr && /^[A-Za-z]+: group 1: /.test(wantErr.message), String(wantErr));
  const srv = await rangeServer({ '/g.anspack': small, '/bad.anspack': bad, '/big.anspack': bytes });
  try {
    for (const t of info) sameTensor(await fetchTensor(srv.url('/g.anspack'), t.name), decodeTensor(small, t.name));
    sameTensor(await fetchTensor(srv.url('/big.anspack'), 'emb', { dequantize: true }), decodeTensor(bytes, 'emb', { dequantize: true }));
    const e = await fetchTensor(srv.url('/bad.anspack'), 'a').catch((x) => x);
    assert.deepEqual([e.code, e.offset, e.tensor, e.message], [wantErr.code, wantErr.offset, wantErr.tensor, wantErr.message]);
    for (const options of [{}, { workers: 2 }]) {
      const e2 = await streamError(chunkedStream(bad, 7).stream, options);
      assert.deepEqual([e2.code, e2.offset, e2.tensor], [wantErr.code, wantErr.offset, wantErr.tensor]);
    }
  } finally {
    await srv.close();
  }
  // decodeStream gives its tensors before the error of a later one
  const seen = [];
  const it = decodeStream(chunkedStream(bad, 64).stream);
  const e3 = await (async () => { try { for await (const t of it) seen.push(t.name); } catch (x) { return x; } return null; })();
  assert.equal(e3?.code, wantErr.code);
  assert.deepEqual(seen, []);
});

// ------------------------------------------------------------------------------------------------
// Errors (spec section 13 rules 4, 7, 9 for coding 2)

/** Re-seal a mutated file: block checksums and the header checksum recomputed (the structure must parse). */
function resealed(bytes, fn) {
  const b = bytes.slice();
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  fn(dv, b);
  const hdr = parseHeader(b, { verify: false });
  for (const t of hdr.tensors) dv.setUint32(t.entryOffset + 44, blockChecksum(hdr.bytes, t), true);
  const metaEnd = 40 + dv.getUint32(28, true) + dv.getUint32(32, true);
  const head = b.slice(0, metaEnd);
  head.fill(0, 36, 40);
  dv.setUint32(36, fxhash26Ref(head), true);
  return b;
}

/** Re-seal only the header checksum (after a change to the table). */
function resealHeader(b) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const metaEnd = 40 + dv.getUint32(28, true) + dv.getUint32(32, true);
  const head = b.slice(0, metaEnd);
  head.fill(0, 36, 40);
  dv.setUint32(36, fxhash26Ref(head), true);
  return b;
}

function errorCase() {
  const r = rng(7404);
  // R = 11 rows (b = 2 for G = 3: 22 bits, the map's top 2 bits unused), C = 8
  const map = [0, 1, 2, 1, 0, 0, 2, 1, 1, 0, 2];
  const tensors = [
    { name: 'first', dtype: 'int8', shape: [4], data: [1, 2, 3, 4] },
    { name: 'w', dtype: 'int8', shape: [11, 8], data: rowsByGroup(r, map, 8, 'int8'), lanes: 3, groups: map, groupOptions: [{}, { chunk: 9 }, {}] },
  ];
  const bytes = encodeFile(tensors);
  const t = parseHeader(bytes).tensors[1];
  return { bytes, t, o: t.dataOffset, mapAt: t.dataOffset + 8 + 12 * 3, e: t.entryOffset };
}

/** Every path that reads a whole file reports the same error: decode (both engines), decodeTensor, readHeader where structural. */
function expectError(bytes, code, offset, pattern, { structural = false } = {}) {
  const errs = [
    errorOf(() => decode(bytes, { engine: 'js' })),
    errorOf(() => decode(bytes, { engine: 'wasm' })),
    errorOf(() => decodeTensor(bytes, 'w')),
  ];
  if (structural) errs.push(errorOf(() => readHeader(bytes)), errorOf(() => readHeader(bytes, { verify: false })), errorOf(() => decode(bytes, { verify: false })));
  for (const e of errs) {
    assert.ok(e instanceof AnspackError, `expected ${code}, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (offset !== null) assert.equal(e.offset, offset, e.message);
    assert.equal(e.tensor, 'w', e.message);
    assert.match(e.message, /byte offset \d+/);
    if (pattern) assert.match(e.message, pattern);
  }
  return errs[0];
}

test('structural errors of a row-group block (rule 7): G, reserved, map, placement, padding, group checksums, sub-blocks', () => {
  const { bytes, t, o, mapAt, e } = errorCase();
  const mut = (fn) => { const b = bytes.slice(); fn(new DataView(b.buffer, b.byteOffset, b.byteLength), b); return b; };
  const setG = (G) => mut((dv) => dv.setUint32(o, G, true));
  expectError(setG(1), 'BadModel', o, /G is 1/, { structural: true });
  expectError(setG(0), 'BadModel', o, /G is 0/, { structural: true });
  expectError(setG(12), 'BadModel', o, /G is 12.*min\(R, 256\) = 11/, { structural: true });  // G > R
  expectError(mut((dv, b) => { b[o + 4] = 1; }), 'ReservedNonZero', o + 4, /reserved/, { structural: true });
  // map: top bits (22..23) nonzero, a row's group = 3 >= G, an empty group
  expectError(mut((dv, b) => { b[mapAt + 2] |= 0x40; }), 'ReservedNonZero', mapAt + 2, /bits above R\*b/, { structural: true });
  expectError(mut((dv, b) => { b[mapAt] |= 0b1100; }), 'BadModel', mapAt, /row 1 is in group 3/, { structural: true });
  // every row 0 -> 0 except group 2 stays: group 1 owns no row
  expectError(mut((dv, b) => { for (const r of [1, 3, 7, 8]) b[mapAt + (r >> 2)] &= ~(0b11 << (2 * (r & 3))); }), 'BadModel', mapAt, /group 1 owns no row/, { structural: true });
  // sub-block sizes: running past the block; the block not ending at the last sub-block
  const sizes = o + 8;
  expectError(mut((dv) => dv.setUint32(sizes + 8, t.dataSize, true)), 'BadModel', sizes + 8, /group 1: sub-block .* runs past/, { structural: true });
  expectError(mut((dv) => dv.setUint32(sizes + 16 + 4, 1, true)), 'BadModel', sizes + 16, /group 2/, { structural: true });  // S_2 >= 2^32
  expectError(mut((dv) => dv.setUint32(sizes + 16, t.groups[2].dataSize - 2, true)), 'BadModel', e + 8, /group 2\) ends at .* must end there/, { structural: true });
  // a sub-block one byte longer, into its padding (O_1 = align8(O_0 + S_0) stays): its own size check
  expectError(mut((dv) => dv.setUint32(sizes, t.groups[0].dataSize + 1, true)), 'BadModel', sizes, /^BadModel: group 0: data_size is/, { structural: true });
  // group checksum >= 2^26
  expectError(mut((dv) => dv.setUint32(o + 8 + 24 + 4, 0x4000000, true)), 'BadModel', o + 8 + 24 + 4, /group_checksums\[1\]/, { structural: true });
  // padding after the map, padding between sub-blocks
  assert.ok(t.groups[0].dataOffset > mapAt + 3, 'the map is followed by padding');
  expectError(mut((dv, b) => { b[mapAt + 3] = 9; }), 'ReservedNonZero', mapAt + 3, /padding after the row map/, { structural: true });
  const g0end = t.groups[0].dataOffset + t.groups[0].dataSize;
  assert.ok(t.groups[1].dataOffset > g0end, 'sub-block 0 is followed by padding');
  expectError(mut((dv, b) => { b[g0end] = 1; }), 'ReservedNonZero', g0end, /padding before the sub-block of group 1/, { structural: true });
  // a sub-block's own rules (section 7), reported with "group g:"
  expectError(mut((dv, b) => { b[t.groups[1].dataOffset + 17] = 4; }), 'ReservedNonZero', t.groups[1].dataOffset + 17, /^ReservedNonZero: group 1: rANS mode/, { structural: true });
  expectError(mut((dv) => dv.setUint32(t.groups[2].dataOffset + 4, 0, true)), 'BadModel', t.groups[2].dataOffset + 4, /^BadModel: group 2: L is 0/, { structural: true });
  expectError(mut((dv) => dv.setUint32(t.groups[0].statesOffset, 5, true)), 'BadModel', t.groups[0].statesOffset, /group 0: state of lane 0/, { structural: true });
  expectError(mut((dv) => dv.setUint32(t.groups[1].chunkTableOffset + 4 * t.groups[1].chunks, 0x4000000, true)), 'BadModel', null, /group 1: chunk_checksums\[0\]/, { structural: true });
  // G = 256 > R = 11; G = 257 > 256 with R = 300 rows
  expectError(mut((dv) => dv.setUint32(o, 256, true)), 'BadModel', o, /G is 256/, { structural: true });
  const many = encodeFile([{ name: 'w', dtype: 'uint8', shape: [300, 1], data: Array.from({ length: 300 }, (_, i) => i % 7), lanes: 2, groups: Array.from({ length: 300 }, (_, i) => i % 2) }]);
  const m0 = parseHeader(many).tensors[0];
  for (const G of [257, 2 ** 32 - 1]) {
    const b = many.slice();
    new DataView(b.buffer).setUint32(m0.dataOffset, G, true);
    expectError(b, 'BadModel', m0.dataOffset, new RegExp(`G is ${G} groups, expected 2..min\\(R, 256\\) = 256`), { structural: true });
  }
});

test('coding 2 table rules (rule 4): ndim 0, shape[0] = 1, n = 0, a float dtype -> BadTable at the coding field', () => {
  const cases = [
    [{ name: 'w', dtype: 'int8', shape: [], data: [3] }, /ndim >= 1/],
    [{ name: 'w', dtype: 'int8', shape: [1, 5], data: [1, 2, 3, 4, 5] }, /shape\[0\] >= 2/],
    [{ name: 'w', dtype: 'int8', shape: [3, 0], data: [] }, /n > 0/],
    [{ name: 'w', dtype: 'float32', shape: [2, 2], data: [1, 2, 3, 4] }, /not allowed for dtype float32/],
  ];
  for (const [t, pattern] of cases) {
    const b = encodeFile([t]);
    const e = parseHeader(b).tensors[0].entryOffset;
    b[e + 37] = 2;
    resealHeader(b);
    for (const fn of [() => readHeader(b), () => decode(b), () => decode(b, { verify: false })]) {
      const err = errorOf(fn);
      assert.equal(err?.code, 'BadTable', String(err));
      assert.equal(err.offset, e + 37);
      assert.equal(err.tensor, 'w');
      assert.match(err.message, pattern);
    }
  }
  // coding 3 is still unknown
  const b = encodeFile([{ name: 'w', dtype: 'int8', shape: [2, 2], data: [1, 2, 3, 4] }]);
  b[parseHeader(b).tensors[0].entryOffset + 37] = 3;
  assert.match(errorOf(() => readHeader(b, { verify: false })).message, /coding is 3/);
});

test('checksum and stream errors (rule 9): block, group, table checksums; a corrupt word in group 1', () => {
  const { bytes, t, o, e } = errorCase();
  // block_checksum covers the group header: a changed group checksum without resealing
  const b1 = bytes.slice();
  b1[o + 8 + 24] ^= 1;
  expectError(b1, 'ChecksumMismatch', e + 44, /block_checksum/);
  // a wrong group checksum (block checksum resealed): group 0 (unchunked: its ids), group 1 (chunked: its chunk checksums)
  for (const [g, what] of [[0, /group 0: its ids hash/], [1, /group 1: its chunk checksums hash/]]) {
    const b = resealed(bytes, (dv) => dv.setUint32(o + 8 + 24 + 4 * g, dv.getUint32(o + 8 + 24 + 4 * g, true) ^ 0x10, true));
    expectError(b, 'ChecksumMismatch', o + 8 + 24 + 4 * g, what);
    // without verify: decoded all the same, and the checksum returned is the hash of the stored group checksums
    const got = decode(b, { verify: false }).tensors[1];
    assert.deepEqual(Array.from(got.data), Array.from(decode(bytes).tensors[1].data));
  }
  // the table's checksum
  const bt = bytes.slice();
  new DataView(bt.buffer).setUint32(e + 32, t.checksum ^ 4, true);
  resealHeader(bt);
  expectError(bt, 'ChecksumMismatch', e + 32, /the group checksums hash/);
  // a corrupt word in group 1 (chunked) and group 2: CorruptStream or ChecksumMismatch, naming the tensor and the group
  for (const g of [1, 2]) {
    const sub = t.groups[g];
    for (let k = 0; k < sub.words; k++) {
      const b = bytes.slice();
      b[sub.wordsOffset + 2 * k] ^= 0x5a;
      const err = expectError(b, errorOf(() => decode(b)).code, null, new RegExp(`group ${g}: `));
      assert.ok(['CorruptStream', 'ChecksumMismatch'].includes(err.code), err.message);
      assert.ok(err.offset >= sub.dataOffset && err.offset <= sub.dataOffset + sub.dataSize, `${err.offset} inside group ${g}'s sub-block`);
    }
  }
  // a wrong state in group 0 (structurally valid, >= 2^16): CorruptStream at its offset, or the ids checksum
  const bs = bytes.slice();
  new DataView(bs.buffer).setUint32(t.groups[0].statesOffset, 0x12345, true);
  const es = errorOf(() => decode(resealed(bs, () => {})));
  assert.ok(['CorruptStream', 'ChecksumMismatch'].includes(es.code) && /group 0: /.test(es.message), es.message);
});

// decode() with the WebAssembly engine decodes a tensor whose sub-blocks are single streams of whole
// lane rows straight into its rows (index.js decodeGroupsInPlace: an image in WebAssembly memory, the
// loops writing each run of rows where it lies). Rows of different groups interleave, so a loop's
// stores past a run's end (up to 4 bytes) land on rows decoded before: they must be put back.
test('wasm, rows decoded in place: interleaved rows of every 1- and 2-byte layout equal js and the reference; corrupt words give js\'s errors', () => {
  const r = rng(7409);
  const cases = [
    // [dtype, R, C, G, lanes, groupOptions]: rows of C symbols (C / 2 with pairs), a multiple of L
    ['int8', 40, 8, 3, 4, [{}, {}, {}]],
    ['uint8', 33, 6, 4, 1, [{}, {}, {}, {}]],
    ['int8', 30, 16, 2, 8, [{ product: true }, { pairs: true }]],
    ['int16', 25, 4, 5, 2, [{}, {}, {}, {}, {}]],
    ['uint16', 20, 12, 3, 12, [{}, {}, {}]],
    ['int8', 50, 10, 2, 5, [{}, {}]],
    // 1-byte values, the SIMD loop: its stores past a run's end land on rows placed before
    ['int8', 64, 16, 2, 8, [{}, {}]],
    // chunked sub-blocks (Q a multiple of L): chunks two by two (decodeV2 into the staging areas, moved
    // to their runs), an odd chunk out alone, chunks starting inside a row; L = 2: one chunk at a time
    ['int8', 64, 16, 2, 8, [{ chunk: 64 }, { chunk: 96 }]],
    ['int8', 48, 16, 3, 4, [{ product: true, chunk: 40 }, { pairs: true, chunk: 12 }, {}]],
    ['uint16', 30, 4, 2, 2, [{ chunk: 10 }, {}]],
  ];
  const tensors = cases.map(([dtype, R, C, G, lanes, groupOptions], i) => {
    const map = randomMap(r, R, G);
    return { name: `ip${i}`, dtype, shape: [R, C], data: rowsByGroup(r, map, C, dtype), lanes, groups: map, groupOptions };
  });
  const bytes = encodeFile(tensors);
  const info = parseHeader(bytes).tensors;
  info.forEach((t, i) => {
    for (const sub of t.groups) {
      assert.ok(sub.vocabSize >= 2, `${t.name} group ${sub.group}: V = ${sub.vocabSize}`);
      assert.equal((sub.pairs ? t.rowSize / 2 : t.rowSize) % (sub.lanes === 1 ? 2 : sub.lanes), 0);
      assert.equal(sub.chunkSize % sub.lanes, 0);
    }
    assert.ok(t.rowMap.some((g, k) => k > 0 && g !== t.rowMap[k - 1]), 'groups interleave');
    const want = bytesOf(ARRAYS[t.dtype].from(tensors[i].data));
    for (const engine of ['wasm', 'js']) assert.ok(bytesOf(decode(bytes, { engine }).tensors[i].data).equals(want), `${t.name} ${engine}`);
    assert.ok(bytesOf(decodeTensor(bytes, t.name, { engine: 'wasm' }).data).equals(want));
    const ref = reference(bytes, t.name);
    assert.deepEqual(ref.entries, Array.from(ARRAYS[t.dtype].from(tensors[i].data)));
  });
  // every word of one group of tensors 0 and 2 flipped in turn: the same error from both engines
  let failures = 0;
  assert.deepEqual([7, 8, 9].map((i) => info[i].groups.map((sub) => sub.chunks)), [[7, 7], [3, 13, 1], [6, 1]]);  // odd K: pairs, then one alone
  for (const [i, g] of [[0, 1], [2, 0], [2, 1], [7, 0], [7, 1], [8, 0], [8, 1], [9, 0]]) {
    const sub = info[i].groups[g];
    for (let k = 0; k < sub.words; k++) {
      const b = bytes.slice();
      b[sub.wordsOffset + 2 * k] ^= 0x5a;
      const ej = errorOf(() => decode(b, { engine: 'js' })), ew = errorOf(() => decode(b, { engine: 'wasm' }));
      assert.ok(ew instanceof AnspackError, String(ew));
      assert.deepEqual([ew.code, ew.offset, ew.tensor, ew.message], [ej.code, ej.offset, ej.tensor, ej.message]);
      assert.match(ew.message, new RegExp(`group ${g}: `));
      failures++;
      // and the next decode with the wasm engine is right again (the image was given up)
      if (k === 0) assert.ok(bytesOf(decode(bytes, { engine: 'wasm' }).tensors[i].data).equals(bytesOf(ARRAYS[info[i].dtype].from(tensors[i].data))));
    }
  }
  assert.ok(failures > 20, `${failures} corrupt files`);
  // a wrong chunk checksum (block checksum resealed) in chunk 1 and in the odd chunk out: the same error
  for (const [i, g, k] of [[7, 0, 1], [7, 1, 2], [8, 1, 3]]) {
    const sub = info[i].groups[g];
    const at = sub.chunkTableOffset + 4 * sub.chunks + 4 * k;
    const b = resealed(bytes, (dv) => dv.setUint32(at, dv.getUint32(at, true) ^ 8, true));
    const ej = errorOf(() => decode(b, { engine: 'js' })), ew = errorOf(() => decode(b, { engine: 'wasm' }));
    assert.equal(ew?.code, 'ChecksumMismatch', String(ew));
    assert.deepEqual([ew.code, ew.offset, ew.tensor, ew.message], [ej.code, ej.offset, ej.tensor, ej.message]);
    assert.equal(ew.offset, at);
  }
});

test('a hostile G or R cannot drive an allocation: the map must fit in the block first', () => {
  // R = 2^40 rows declared, a tiny block: LimitExceeded (maxEntries) or BadModel before anything is allocated
  const b = encodeFile([{ name: 'w', dtype: 'int8', shape: [2, 4], data: [1, 2, 3, 4, 1, 2, 3, 4], lanes: 1, groups: [0, 1] }]);
  const t = parseHeader(b).tensors[0];
  const dv = new DataView(b.buffer);
  dv.setUint32(t.entryOffset + 48, 0, true);
  dv.setUint32(t.entryOffset + 52, 1 << 8, true);  // shape[0] = 2^40
  resealHeader(b);
  assert.equal(errorOf(() => decode(b)).code, 'LimitExceeded');
  const e = errorOf(() => decode(b, { maxEntries: 2 ** 50 }));
  assert.equal(e.code, 'BadModel');
  assert.match(e.message, /too small for the group header and row map/);
  assert.equal(e.offset, t.entryOffset + 8);
});

test('readHeader lists the groups: rows, sub-block fields, row map', () => {
  const { bytes, t } = errorCase();
  const info = readHeader(bytes).tensors[1];
  assert.equal(info.coding, 'groups');
  assert.equal(info.groupCount, 3);
  assert.deepEqual(Array.from(info.rowMap), [0, 1, 2, 1, 0, 0, 2, 1, 1, 0, 2]);
  assert.deepEqual(info.groups.map((g) => g.rows), [4, 4, 3]);
  assert.deepEqual(info.groups.map((g) => g.shape), [[4, 8], [4, 8], [3, 8]]);
  assert.deepEqual(info.groups.map((g) => g.dataOffset), t.groups.map((g) => g.dataOffset));
  assert.ok(info.groups[1].chunks > 1 && info.groups[0].chunks === 1);
  info.rowMap[0] = 2;  // a copy
  assert.equal(readHeader(bytes).tensors[1].rowMap[0], 0);
});
