// decodeAsync / createDecoderPool (src/async.js, src/worker.js) in node (worker_threads): the same
// tensors as decode(), the same errors (code, offset, tensor) for every bad vector and for corrupted
// blocks, options honoured, the caller's buffer untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { decode, decodeAsync, createDecoderPool, AnspackError } from '../src/index.js';
import { encodeFile, rng, randomInts, perTensorAffine } from './helpers/encoder.js';
import { errorOf, asyncErrorOf } from './helpers/engines.js';
import { sameTensors } from './helpers/compare.js';

const VECTORS = new URL('../../tests/vectors/', import.meta.url);

function manyTensors() {
  const r = rng(7);
  const tensors = [];
  for (let i = 0; i < 9; i++) {
    const n = 50 + 300 * i;
    tensors.push({ name: `layer${i}.w`, dtype: i % 3 === 0 ? 'uint8' : 'int8', shape: [n], data: randomInts(r, n, 3 + i, i % 3 === 0 ? 0 : -128, 127), lanes: 1 + (i % 5) });
  }
  tensors.push({ name: 'bias', dtype: 'float32', shape: [3], data: [0.25, -1, 3] });
  tensors.push({ name: 'const', dtype: 'int16', shape: [2, 5], data: new Array(10).fill(-7) });
  tensors.push({ name: 'empty', dtype: 'int32', shape: [0, 4], data: [] });
  tensors.push({ name: 'wide', dtype: 'int32', shape: [600], data: randomInts(r, 600, 5000, -70000, 70000) });
  return encodeFile(tensors, { model: 'many', n: 13 });
}

test('decodeAsync equals decode on every golden vector, 1-3 workers', async () => {
  for (const f of readdirSync(VECTORS).filter((x) => x.endsWith('.anspack'))) {
    const bytes = new Uint8Array(readFileSync(new URL(f, VECTORS)));
    const want = decode(bytes);
    for (const workers of [1, 2, 3]) sameTensors(await decodeAsync(bytes, { workers }), want);
  }
});

test('decodeAsync equals decode on a many-tensor file, with dequantize and verify off', async () => {
  const bytes = manyTensors();
  const copy = bytes.slice();
  for (const options of [{}, { dequantize: true }, { verify: false }]) {
    const want = decode(bytes, options);
    for (const workers of [1, 2, 4]) sameTensors(await decodeAsync(bytes, { ...options, workers }), want);
  }
  sameTensors(await decodeAsync(bytes, { workers: 0 }), decode(bytes));
  sameTensors(await decodeAsync(bytes.buffer), decode(bytes)); // default worker count, ArrayBuffer input
  assert.deepEqual(bytes, copy, 'the input buffer must not be modified or detached');
  assert.equal(bytes.byteLength, copy.byteLength);
});

test('a pool is reusable and runs concurrent decodes', async () => {
  const pool = await createDecoderPool(2);
  try {
    assert.equal(pool.size, 2);
    const a = manyTensors();
    const b = new Uint8Array(readFileSync(new URL('dtypes.anspack', VECTORS)));
    const [ra, rb, ra2] = await Promise.all([pool.decode(a), pool.decode(b), decodeAsync(a, { pool })]);
    sameTensors(ra, decode(a));
    sameTensors(rb, decode(b));
    sameTensors(ra2, decode(a));
  } finally {
    await pool.terminate();
  }
  await assert.rejects(pool.decode(manyTensors()), (e) => e instanceof AnspackError && e.code === 'BadArgument');
});

test('every bad vector fails with the same code, offset and tensor as decode', async () => {
  const index = JSON.parse(readFileSync(new URL('bad/index.json', VECTORS), 'utf8'));
  for (const [name, code] of Object.entries(index)) {
    const bytes = new Uint8Array(readFileSync(new URL(`bad/${name}.anspack`, VECTORS)));
    const want = errorOf(() => decode(bytes));
    assert.equal(want.code, code);
    for (const workers of [1, 2]) {
      const got = await asyncErrorOf(decodeAsync(bytes, { workers }));
      assert.ok(got instanceof AnspackError, `${name}: ${got}`);
      assert.equal(got.code, want.code, `${name}: ${got.message}`);
      assert.equal(got.offset, want.offset, `${name}: ${got.message} vs ${want.message}`);
      assert.equal(got.tensor, want.tensor, name);
    }
  }
});

test('corruption inside a worker-decoded block maps back to the original offset', async () => {
  const good = manyTensors();
  const dv = new DataView(good.buffer);
  // Flip one word of layer5.w's stream (decoded in a worker): CorruptStream or ChecksumMismatch.
  const { tensors } = (await import('../src/index.js')).readHeader(good);
  for (const t of tensors.filter((x) => x.coding === 'rans' && x.words > 2)) {
    const bad = good.slice();
    bad[t.dataOffset + t.dataSize - 3] ^= 0x5a;
    const want = errorOf(() => decode(bad));
    assert.ok(want, t.name);
    for (const workers of [2, 3]) {
      const got = await asyncErrorOf(decodeAsync(bad, { workers }));
      assert.ok(got instanceof AnspackError, String(got));
      assert.deepEqual([got.code, got.offset, got.tensor], [want.code, want.offset, want.tensor], got.message);
    }
    // A corrupt model byte is caught by the block checksum.
    const bad2 = good.slice();
    bad2[t.dataOffset + 24 + 4 * t.lanes] ^= 1;  // first vocabulary value
    const want2 = errorOf(() => decode(bad2));
    const got2 = await asyncErrorOf(decodeAsync(bad2, { workers: 2 }));
    assert.deepEqual([got2.code, got2.offset, got2.tensor], [want2.code, want2.offset, want2.tensor], got2.message);
  }
  assert.ok(dv.byteLength > 0);
});

test('bad arguments and limits', async () => {
  const bytes = manyTensors();
  for (const options of [{ workers: -1 }, { workers: 1.5 }, { maxEntries: -3 }]) {
    const e = await asyncErrorOf(decodeAsync(bytes, options));
    assert.ok(e instanceof AnspackError && e.code === 'BadArgument', `${JSON.stringify(options)}: ${e}`);
  }
  let e = await asyncErrorOf(decodeAsync(bytes, { workers: 2, maxEntries: 100 }));
  assert.equal(e.code, 'LimitExceeded');
  e = await asyncErrorOf(decodeAsync(bytes, { workers: 2, maxTotalEntries: 1000 }));
  assert.equal(e.code, 'LimitExceeded');
  e = await asyncErrorOf(decodeAsync('not a buffer', { workers: 2 }));
  assert.equal(e.code, 'BadArgument');
  e = await asyncErrorOf(createDecoderPool(0));
  assert.equal(e.code, 'BadArgument');
});

test('outputs: decoded into the caller\'s arrays, as decode() does', async () => {
  const bytes = manyTensors();
  const want = decode(bytes);
  const n3 = want.byName['layer4.w'].data.length;
  const out3 = new Int8Array(n3 + 5).fill(99);
  const outB = new Float32Array(3);
  const r = await decodeAsync(bytes, { workers: 2, outputs: { 'layer4.w': out3, bias: outB } });
  sameTensors(r, want);
  assert.equal(r.byName['layer4.w'].data.buffer, out3.buffer);
  assert.deepEqual([...out3.subarray(0, n3)], [...want.byName['layer4.w'].data]);
  assert.equal(out3[n3], 99);
  assert.equal(r.byName.bias.data, outB);
  const e = await asyncErrorOf(decodeAsync(bytes, { workers: 2, outputs: { 'layer4.w': new Int16Array(n3) } }));
  assert.equal(e.code, 'BadArgument');
});

test('a file without tensors decodes to nothing (no worker needed)', async () => {
  const bytes = encodeFile([], { empty: true });
  const r = await decodeAsync(bytes, { workers: 2 });
  assert.deepEqual(r.tensors, []);
  assert.deepEqual(r.metadata, { empty: true });
  const pool = await createDecoderPool(1);
  try {
    assert.deepEqual((await pool.decode(bytes)).tensors, []);
  } finally {
    await pool.terminate();
  }
});

test('a pool reuses its input buffers without leaking old bytes into padding', async () => {
  const r = rng(5);
  const dq = perTensorAffine(0.5);
  // odd-sized raw and rANS blocks, a dequant block after each: plenty of padding bytes
  const padded = encodeFile([
    { name: 'r', dtype: 'int8', shape: [13], data: randomInts(r, 13, 9, -128, 127), raw: true, dequant: dq },
    { name: 'q', dtype: 'int8', shape: [301], data: randomInts(r, 301, 9, -128, 127), lanes: 3, dequant: dq },
    { name: 'h', dtype: 'uint8', shape: [7], data: [1, 2, 3, 4, 5, 6, 7], raw: true },
    { name: 'k', dtype: 'int8', shape: [50], data: randomInts(r, 50, 3, -128, 127), lanes: 2 },
  ]);
  const big = manyTensors();
  const pool = await createDecoderPool(1);
  try {
    await pool.decode(big);
    for (const f of [padded, big, padded, padded, big, padded]) {
      sameTensors(await pool.decode(f), decode(f));
      sameTensors(await pool.decode(f, { dequantize: true }), decode(f, { dequantize: true }));
    }
  } finally {
    await pool.terminate();
  }
});

test('buildSubfile into a recycled buffer full of garbage gives the same bytes as a fresh one', async () => {
  const { buildSubfile } = await import('../src/stream.js');
  const { parseHeader } = await import('../src/header.js');
  const r = rng(9);
  const dq = perTensorAffine(0.5);
  const file = encodeFile([
    { name: 'r', dtype: 'int8', shape: [13], data: randomInts(r, 13, 9, -128, 127), raw: true, dequant: dq },
    { name: 'h', dtype: 'uint8', shape: [7], data: [1, 2, 3, 4, 5, 6, 7], raw: true },
    { name: 'q', dtype: 'int8', shape: [301], data: randomInts(r, 301, 9, -128, 127), lanes: 3, dequant: dq },
    { name: 'k', dtype: 'int16', shape: [3], data: [1, -2, 3], raw: true },
  ]);
  const hdr = parseHeader(file);
  const fdv = new DataView(file.buffer);
  for (const t of hdr.tensors) t.entrySize = 48 + 8 * t.shape.length + Math.ceil(fdv.getUint16(t.entryOffset + 40, true) / 8) * 8;
  const read = (a, b, dest, at) => dest.set(file.subarray(a, b), at);
  for (const pick of [[0, 1, 2, 3], [1, 3], [2], [0, 2]]) {
    const ts = pick.map((i) => hdr.tensors[i]);
    const fresh = buildSubfile(file, ts, read).bytes;
    const garbage = new ArrayBuffer(fresh.length + 100);
    new Uint8Array(garbage).fill(0xa5);
    const reused = buildSubfile(file, ts, read, () => garbage).bytes;
    assert.equal(reused.buffer, garbage);
    assert.deepEqual([...reused], [...fresh], `tensors ${pick}`);
    const d = decode(reused);
    assert.deepEqual(d.tensors.map((t) => t.name), ts.map((t) => t.name));
  }
});

// Spec section 7.2: the chunks of a chunked tensor are spread over the workers.
function chunkedFile() {
  const r = rng(31);
  const dq = perTensorAffine(0.25);
  // 'big' holds 52 % of the entries: parallel only if its chunks are split over the workers.
  return encodeFile([
    { name: 'big', dtype: 'int8', shape: [52, 100], data: randomInts(r, 5200, 9, -128, 127), lanes: 4, chunk: 700, dequant: dq },
    { name: 'a', dtype: 'int8', shape: [2400], data: randomInts(r, 2400, 9, -128, 127), lanes: 3 },
    { name: 'p', dtype: 'uint8', shape: [1000], data: randomInts(r, 1000, 2, 0, 255), lanes: 8, pairs: true, chunk: 61 },
    { name: 'c', dtype: 'int16', shape: [1400], data: new Array(1400).fill(-3), lanes: 2, chunk: 300 },
    { name: 's', dtype: 'int32', shape: [23], data: randomInts(r, 23, 1e6, -1e9, 1e9), lanes: 8, chunk: 10 },  // last chunk: 3 symbols < L
  ]);
}

test('decodeAsync on chunked tensors (split over 2-5 workers) equals decode(), also dequantized, verify off and into outputs', async () => {
  const f = chunkedFile();
  for (const workers of [2, 4, 5]) {
    sameTensors(await decodeAsync(f, { workers }), decode(f));
    sameTensors(await decodeAsync(f, { workers, dequantize: true }), decode(f, { dequantize: true }));
    sameTensors(await decodeAsync(f, { workers, verify: false }), decode(f, { verify: false }));
  }
  const big = new Int8Array(5200);
  const got = await decodeAsync(f, { workers: 2, outputs: { big } });
  assert.equal(got.byName.big.data, big);
  assert.deepEqual(Array.from(big), Array.from(decode(f).byName.big.data));
});

test('a file of one chunked tensor keeps 2 workers busy: its chunks are split into ranges', async () => {
  const r = rng(32);
  const f = encodeFile([{ name: 'w', dtype: 'int8', shape: [9000], data: randomInts(r, 9000, 7, -128, 127), lanes: 8, chunk: 1000 }]);
  const want = decode(f);
  sameTensors(await decodeAsync(f, { workers: 2 }), want);
  const { parseHeader } = await import('../src/header.js');
  const { __test } = await import('../src/async.js');
  const plan = __test.planItems(parseHeader(f).tensors, 2);
  assert.equal(plan.groups.length, 2);  // both workers get a range of chunks
  // the home range first (at most 0.9 of a worker's share, 5173: chunk 0 costs 1000 + 4096, chunks
  // 0-1 5696 with their pairing), the rest in ranges of two chunks placed like any item
  assert.deepEqual(plan.items.map((it) => [it.k0, it.k1, it.home]), [[0, 1, true], [1, 3, false], [3, 5, false], [5, 7, false], [7, 9, false]]);
  assert.deepEqual(plan.split.get(0).map(([k0, k1]) => [k0, k1]), [[0, 1], [1, 3], [3, 5], [5, 7], [7, 9]]);
  // The home range comes back in an array of the whole tensor's length, which is the result: the
  // tensor's array owns exactly its bytes, as decode()'s.
  for (const workers of [2, 3]) {
    const got = await decodeAsync(f, { workers });
    sameTensors(got, want);
    assert.equal(got.tensors[0].data.byteOffset, 0);
    assert.equal(got.tensors[0].data.buffer.byteLength, 9000);
    assert.ok(got.tensors[0].data.buffer instanceof ArrayBuffer);
  }
  // into the caller's array (then the home range is decoded into an array of its own, and copied)
  const out = new Int8Array(9100).fill(5);
  const got = await decodeAsync(f, { workers: 2, outputs: { w: out } });
  assert.equal(got.byName.w.data.buffer, out.buffer);
  assert.deepEqual(Array.from(out.subarray(0, 9000)), Array.from(want.tensors[0].data));
  assert.deepEqual(Array.from(out.subarray(9000)), new Array(100).fill(5));
  // The ranges: whole chunks, about equal, a short last chunk never alone in an unchunked range.
  assert.deepEqual(__test.chunkRanges({ chunks: 9, symbols: 9000, chunkSize: 1000, lanes: 8 }, 2), [[0, 5], [5, 9]]);
  assert.deepEqual(__test.chunkRanges({ chunks: 3, symbols: 23, chunkSize: 10, lanes: 8 }, 3), [[0, 1], [1, 3]]);
  assert.deepEqual(__test.chunkRanges({ chunks: 3, symbols: 29, chunkSize: 10, lanes: 8 }, 3), [[0, 1], [1, 2], [2, 3]]);
  assert.deepEqual(__test.chunkRanges({ chunks: 9, symbols: 9000, chunkSize: 1000, lanes: 8 }, 2, 6), [[6, 8], [8, 9]]);
  assert.deepEqual(__test.chunkRanges({ chunks: 9, symbols: 8003, chunkSize: 1000, lanes: 8 }, 3, 6), [[6, 7], [7, 9]]);
  // A short last chunk (fewer symbols than lanes) is never a range alone: it goes with the chunk
  // before it, and a 2-chunk tensor whose last chunk is short stays whole.
  const short3 = encodeFile([{ name: 'w', dtype: 'int8', shape: [2004], data: randomInts(r, 2004, 7, -128, 127), lanes: 8, chunk: 1000 }]);
  assert.deepEqual(__test.planItems(parseHeader(short3).tensors, 2).items.map((it) => [it.k0, it.k1]), [[0, 1], [1, 3]]);
  sameTensors(await decodeAsync(short3, { workers: 2 }), decode(short3));
  const short2 = encodeFile([{ name: 'w', dtype: 'int8', shape: [1004], data: randomInts(r, 1004, 7, -128, 127), lanes: 8, chunk: 1000 }]);
  assert.deepEqual(__test.planItems(parseHeader(short2).tensors, 2).items.map((it) => [it.k0, it.k1]), [[undefined, undefined]]);
  sameTensors(await decodeAsync(short2, { workers: 2 }), decode(short2));
  // 52 % of the entries in one chunked tensor with 4 other tensors: 2 and 3 workers take it whole (its
  // cost, 9296 with the fixed cost per tensor, is below a share: 14312, 9542), 4 workers split it.
  for (const k of [2, 3]) {
    const g = __test.planItems(parseHeader(chunkedFile()).tensors, k);
    const loads = g.groups.map((idx) => idx.reduce((a, j) => a + g.items[j].cost, 0));
    assert.ok(Math.max(...loads) / Math.min(...loads) < 1.4, `loads ${loads}`);
    assert.ok(g.items.every((it) => it.k0 === undefined), `the 52 % tensor is not split for ${k} workers`);
  }
  const g4 = __test.planItems(parseHeader(chunkedFile()).tensors, 4);
  const loads4 = g4.groups.map((idx) => idx.reduce((a, j) => a + g4.items[j].cost, 0));
  assert.ok(g4.items.some((it) => it.k0 !== undefined), 'the 52 % tensor is split for 4 workers');
  // the busiest of 4 workers carries at most 1.2 shares (the big tensor whole would be ~1.2 alone;
  // the least busy one holds tensor 'a' alone, an item of ~0.7 share)
  const total4 = loads4.reduce((a, b) => a + b, 0);
  assert.ok(Math.max(...loads4) <= 1.2 * (total4 / 4), `loads ${loads4}`);
  // A chunked tensor smaller than a worker's share is not split (the partition balances it whole).
  const small = encodeFile([
    { name: 'c', dtype: 'int8', shape: [3000], data: randomInts(r, 3000, 7, -128, 127), lanes: 4, chunk: 1000 },
    { name: 'd', dtype: 'int8', shape: [3500], data: randomInts(r, 3500, 7, -128, 127), lanes: 4 },
  ]);
  const h = __test.planItems(parseHeader(small).tensors, 2);
  assert.deepEqual(h.items.map((it) => it.k0), [undefined, undefined]);
  sameTensors(await decodeAsync(small, { workers: 2 }), decode(small));
});

test('jobs: each group sent as a small subfile and the rest, every first subfile before any second one', async () => {
  const { parseHeader } = await import('../src/header.js');
  const { __test } = await import('../src/async.js');
  const tensors = parseHeader(manyTensors()).tensors;
  for (const k of [1, 2, 3]) {
    const { items, groups, jobs } = __test.planItems(tensors, k);
    // every item in exactly one job, of the worker whose group holds it; items in table order
    const seen = new Map();
    for (const job of jobs) {
      assert.deepEqual(job.idx, [...job.idx].sort((a, b) => a - b));
      for (const j of job.idx) {
        assert.ok(!seen.has(j), `item ${j} twice`);
        seen.set(j, job.worker);
        assert.ok(groups[job.worker].includes(j));
      }
    }
    assert.equal(seen.size, items.length);
    // at most two jobs per worker; all first jobs come first, and a first job is the cheaper one
    const firstAt = new Map();
    jobs.forEach((job, q) => { if (!firstAt.has(job.worker)) firstAt.set(job.worker, q); });
    assert.equal(firstAt.size, groups.length);
    for (const [w, q] of firstAt) {
      assert.ok(q < groups.length, `worker ${w}'s first job at ${q}`);
      const second = jobs.filter((job) => job.worker === w);
      assert.ok(second.length <= 2);
      if (second.length === 2) assert.ok(second[0].cost <= second[1].cost);
    }
    // the second jobs go out in the order of the first ones (the first worker to start is the first idle)
    const order = (list) => list.map((job) => job.worker);
    const firsts = order(jobs.slice(0, firstAt.size));
    assert.deepEqual(order(jobs.slice(firstAt.size)), firsts.filter((w) => jobs.slice(firstAt.size).some((job) => job.worker === w)));
  }
});

test('errors in a split chunked tensor: the same code, offset and tensor as decode()', async () => {
  const good = chunkedFile();
  const { parseHeader } = await import('../src/header.js');
  const t = parseHeader(good).tensors[0];
  const cases = [
    (b) => { b[t.wordsOffset + 2 * Math.floor(t.words * 0.8)] ^= 0x21; },  // a word in a late chunk
    (b) => { b[t.wordsOffset + 5] ^= 0x10; },                               // a word of chunk 0
    (b) => { b[t.chunkTableOffset + 4 * t.chunks + 8] ^= 1; },             // a chunk checksum (block checksum)
    (b) => { b[t.entryOffset + 32] ^= 1; },                                 // the table checksum
  ];
  for (const [i, fn] of cases.entries()) {
    const bad = good.slice();
    fn(bad);
    const want = errorOf(() => decode(bad));
    assert.ok(want, `case ${i}`);
    for (const workers of [2, 4]) {  // 4: the tensor is split (see the test above)
      const got = await asyncErrorOf(decodeAsync(bad, { workers }));
      assert.ok(got instanceof AnspackError, String(got));
      assert.deepEqual([got.code, got.offset, got.tensor, got.message], [want.code, want.offset, want.tensor, want.message], `case ${i}`);
    }
  }
});
