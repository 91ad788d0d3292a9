// decodeStream and fetchTensor (src/stream.js) in node: each yielded tensor equals decode()'s, in
// chunks of any size (1, 7 bytes, ...), yielded before the rest of the file has arrived; the same
// errors as decode() for the bad vectors; fetchTensor against a local HTTP server honouring Range,
// which counts the bytes it serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { decode, decodeTensor, decodeStream, fetchTensor, readHeader, createDecoderPool, AnspackError } from '../src/index.js';
import { encodeFile, rng, randomInts, perTensorAffine } from './helpers/encoder.js';
import { errorOf } from './helpers/engines.js';
import { sameTensor, chunkedStream, collect, streamError, rangeServer } from './helpers/streams.js';

const VECTORS = new URL('../../tests/vectors/', import.meta.url);

/** fetchTensor(url, name) and decodeStream over 2 workers report decode()'s error `want` for `bad`. */
async function remoteErrorsLikeDecode(url, name, bad, want) {
  const e = await fetchTensor(url, name).catch((x) => x);
  assert.deepEqual([e.code, e.offset, e.tensor, e.message], [want.code, want.offset, want.tensor, want.message]);
  const e2 = await streamError(chunkedStream(bad, 7).stream, { workers: 2 });
  assert.deepEqual([e2.code, e2.offset, e2.tensor], [want.code, want.offset, want.tensor]);
}

function sample() {
  const r = rng(3);
  const dq = perTensorAffine(0.5);
  return encodeFile([
    { name: 'a', dtype: 'int8', shape: [40, 30], data: randomInts(r, 1200, 6, -128, 127), lanes: 4, dequant: dq },
    { name: 'b', dtype: 'float32', shape: [5], data: [1, 2, 3, 4.5, -1] },
    { name: 'c', dtype: 'uint16', shape: [3, 300], data: randomInts(r, 900, 300, 0, 65535), lanes: 7 },
    { name: 'z', dtype: 'int8', shape: [0], data: [] },
    { name: 'one', dtype: 'int32', shape: [64], data: new Array(64).fill(5) },
  ], { kind: 'sample' });
}

test('decodeStream yields the tensors of decode() for every chunk size', async () => {
  const files = readdirSync(VECTORS).filter((x) => x.endsWith('.anspack')).map((f) => new Uint8Array(readFileSync(new URL(f, VECTORS))));
  files.push(sample());
  for (const bytes of files) {
    for (const options of [{}, { dequantize: true }]) {
      const want = decode(bytes, options).tensors;
      for (const size of [1, 7, 64, 1000, bytes.length]) {
        const got = await collect(chunkedStream(bytes, size).stream, options);
        assert.equal(got.length, want.length);
        got.forEach((g, i) => sameTensor(g, want[i]));
      }
    }
  }
});

test('decodeStream accepts async iterables and Responses', async () => {
  const bytes = sample();
  const want = decode(bytes).tensors;
  async function* gen() { for (let i = 0; i < bytes.length; i += 13) yield bytes.subarray(i, i + 13).buffer.slice(bytes.byteOffset + i, bytes.byteOffset + Math.min(i + 13, bytes.length)); }
  (await collect(gen())).forEach((g, i) => sameTensor(g, want[i]));
  (await collect(new Response(bytes))).forEach((g, i) => sameTensor(g, want[i]));
});

test('each tensor is yielded as soon as its blocks have arrived', async () => {
  const bytes = sample();
  const { tensors } = readHeader(bytes);
  const { stream, log } = chunkedStream(bytes, 7);
  let seenHeader = null;
  let i = 0;
  for await (const t of decodeStream(stream, { onHeader: (h) => { seenHeader = { ...h, at: log.delivered }; } })) {
    const info = tensors[i++];
    assert.equal(t.name, info.name);
    const end = info.dequantSize > 0 ? info.dequantOffset + info.dequantSize : info.dataOffset + info.dataSize;
    assert.ok(log.delivered >= end, 'not before its bytes');
    assert.ok(log.delivered < end + 7, `tensor ${t.name} (ends at ${end}) yielded only after ${log.delivered} bytes`);
  }
  assert.equal(i, tensors.length);
  assert.deepEqual(seenHeader.metadata, { kind: 'sample' });
  assert.deepEqual(seenHeader.tensors.map((t) => t.name), ['a', 'b', 'c', 'z', 'one']);
  assert.ok(seenHeader.at < tensors[0].dataOffset + 7, 'onHeader before the data arrives');
});

test('breaking out of the loop cancels the stream', async () => {
  const bytes = sample();
  const { stream, log } = chunkedStream(bytes, 7);
  for await (const t of decodeStream(stream)) { assert.equal(t.name, 'a'); break; }
  assert.ok(log.cancelled);
  assert.ok(log.delivered < bytes.length);
});

test('bad vectors fail as in decode(); truncated streams, trailing bytes and bad input', async () => {
  const index = JSON.parse(readFileSync(new URL('bad/index.json', VECTORS), 'utf8'));
  for (const [name, code] of Object.entries(index)) {
    const bytes = new Uint8Array(readFileSync(new URL(`bad/${name}.anspack`, VECTORS)));
    const want = (() => { try { decode(bytes); } catch (e) { return e; } return null; })();
    assert.equal(want.code, code);
    for (const size of [5, 4096]) {
      const e = await streamError(chunkedStream(bytes, size).stream);
      assert.ok(e instanceof AnspackError, `${name}: ${e}`);
      assert.equal(e.code, code, `${name}: ${e.message}`);
      if (!['Truncated', 'SizeMismatch'].includes(code)) {
        assert.equal(e.offset, want.offset, `${name}: ${e.message} vs ${want.message}`);
        assert.equal(e.tensor, want.tensor, name);
      }
    }
  }
  const good = sample();
  for (const cut of [0, 3, 39, 41, 200, good.length - 1]) {
    const e = await streamError(chunkedStream(good.subarray(0, cut), 7).stream);
    assert.equal(e?.code, 'Truncated', `cut at ${cut}: ${e}`);
  }
  const longer = new Uint8Array(good.length + 3);
  longer.set(good);
  assert.equal((await streamError(chunkedStream(longer, 7).stream))?.code, 'SizeMismatch');
  // corrupt a word of tensor c: same error, same offset as decode()
  const info = readHeader(good).tensors.find((t) => t.name === 'c');
  const bad = good.slice();
  bad[info.dataOffset + info.dataSize - 5] ^= 0x21;
  const want = errorOf(() => decode(bad));
  const e = await streamError(chunkedStream(bad, 7).stream);
  assert.deepEqual([e.code, e.offset, e.tensor], [want.code, want.offset, want.tensor]);
  // padding between blocks must be zero
  const pad = good.slice();
  const a = readHeader(good).tensors[0];
  assert.ok(a.dequantOffset > a.dataOffset + a.dataSize, 'sample has padding before the dequant block');
  pad[a.dataOffset + a.dataSize] = 1;
  assert.equal((await streamError(chunkedStream(pad, 7).stream))?.code, 'ReservedNonZero');
  assert.equal((await streamError(42))?.code, 'BadArgument');
  assert.equal((await streamError(chunkedStream(good, 7).stream, { maxEntries: 10 }))?.code, 'LimitExceeded');
  assert.equal((await streamError(chunkedStream(good, 7).stream, { maxTotalEntries: 100 }))?.code, 'LimitExceeded');
});

test('fetchTensor fetches only the prefix and the tensor\'s blocks', async () => {
  const bytes = sample();
  const srv = await rangeServer({ '/m.anspack': bytes });
  try {
    const hdr = readHeader(bytes);
    const prefixSize = 40 + new DataView(bytes.buffer).getUint32(28, true) + new DataView(bytes.buffer).getUint32(32, true);
    for (const info of hdr.tensors) {
      for (const options of [{}, { dequantize: true }]) {
        srv.log.length = 0;
        const t = await fetchTensor(srv.url('/m.anspack'), info.name, options);
        sameTensor(t, decodeTensor(bytes, info.name, options));
        const end = info.dequantSize > 0 ? info.dequantOffset + info.dequantSize : info.dataOffset + info.dataSize;
        const want = [[0, 39], [40, prefixSize - 1]];
        if (end > info.dataOffset) want.push([info.dataOffset, end - 1]);
        assert.deepEqual(srv.log.map((r) => r.range), want, info.name);
        const served = srv.log.reduce((a, r) => a + r.bytes, 0);
        assert.equal(served, prefixSize + (end - info.dataOffset));
        assert.ok(served < bytes.length);
      }
    }
    let e = await fetchTensor(srv.url('/m.anspack'), 'nope').catch((x) => x);
    assert.equal(e.code, 'BadArgument');
    e = await fetchTensor(srv.url('/missing.anspack'), 'a').catch((x) => x);
    assert.ok(e instanceof AnspackError && e.code === 'BadArgument', String(e));
  } finally {
    await srv.close();
  }
});

test('fetchTensor: corrupt blocks, bad prefixes, servers ignoring Range', async () => {
  const good = sample();
  const info = readHeader(good).tensors.find((t) => t.name === 'c');
  const bad = good.slice();
  bad[info.dataOffset + 30] ^= 0x40;
  const badHeader = good.slice();
  badHeader[104] ^= 1; // the first tensor's name: only the header checksum can tell
  const bigger = good.slice();
  new DataView(bigger.buffer).setUint32(16, good.length + 8, true);
  const smaller = good.slice();
  new DataView(smaller.buffer).setUint32(16, good.length - 8, true);
  const srv = await rangeServer({
    '/bad.anspack': bad, '/hdr.anspack': badHeader, '/short.anspack': good.subarray(0, good.length - 10),
    '/magic.anspack': new Uint8Array(100), '/tiny.anspack': good.subarray(0, 20), '/tinybad.anspack': new Uint8Array(20),
    '/bigger.anspack': bigger, '/smaller.anspack': smaller,
  });
  try {
    const want = (() => { try { decodeTensor(bad, 'c'); } catch (e) { return e; } return null; })();
    const e = await fetchTensor(srv.url('/bad.anspack'), 'c').catch((x) => x);
    assert.deepEqual([e.code, e.offset, e.tensor], [want.code, want.offset, want.tensor], e.message);
    assert.ok((await fetchTensor(srv.url('/bad.anspack'), 'c', { verify: false }).catch((x) => x)) !== null);
    assert.equal((await fetchTensor(srv.url('/hdr.anspack'), 'a').catch((x) => x)).code, 'ChecksumMismatch');
    assert.equal((await fetchTensor(srv.url('/short.anspack'), 'one').catch((x) => x)).code, 'Truncated');
    assert.equal((await fetchTensor(srv.url('/magic.anspack'), 'a').catch((x) => x)).code, 'BadMagic');
    // the same codes as decode() for a wrong file_size (the length comes from Content-Range) and tiny files
    for (const [path, bytes] of [['/bigger.anspack', bigger], ['/smaller.anspack', smaller], ['/tiny.anspack', good.subarray(0, 20)], ['/tinybad.anspack', new Uint8Array(20)]]) {
      const want = (() => { try { decode(bytes); } catch (x) { return x; } return null; })();
      const got = await fetchTensor(srv.url(path), 'c').catch((x) => x);
      assert.ok(got instanceof AnspackError, `${path}: ${got}`);
      assert.deepEqual([got.code, got.offset], [want.code, want.offset], `${path}: ${got.message} vs ${want.message}`);
    }
  } finally {
    await srv.close();
  }
  const plain = await rangeServer({ '/m.anspack': good }, { ignoreRange: true });
  try {
    sameTensor(await fetchTensor(plain.url('/m.anspack'), 'c'), decodeTensor(good, 'c'));
    assert.equal(plain.log.length, 1);
  } finally {
    await plain.close();
  }
});

test('decodeStream with workers: same tensors, same order, same errors', async () => {
  const bytes = sample();
  const want = decode(bytes).tensors;
  const pool = await createDecoderPool(2);
  try {
    for (const options of [{ workers: 2 }, { workers: 1 }, { pool }]) {
      for (const size of [7, 4096]) {
        const got = await collect(chunkedStream(bytes, size).stream, options);
        assert.equal(got.length, want.length);
        got.forEach((g, i) => sameTensor(g, want[i]));
      }
      // a corrupt stream in tensor c: the tensors before it come out, then decode()'s error
      const info = readHeader(bytes).tensors.find((t) => t.name === 'c');
      const bad = bytes.slice();
      bad[info.dataOffset + info.dataSize - 5] ^= 0x21;
      const wantErr = errorOf(() => decode(bad));
      const names = [];
      let err = null;
      try {
        for await (const t of decodeStream(chunkedStream(bad, 7).stream, options)) names.push(t.name);
      } catch (e) { err = e; }
      assert.ok(err instanceof AnspackError, String(err));
      assert.deepEqual([err.code, err.offset, err.tensor], [wantErr.code, wantErr.offset, wantErr.tensor]);
      assert.deepEqual(names, ['a', 'b']);
      // a truncated stream: every complete tensor first, then Truncated
      names.length = 0;
      err = null;
      try {
        for await (const t of decodeStream(chunkedStream(bytes.subarray(0, bytes.length - 3), 7).stream, options)) names.push(t.name);
      } catch (e) { err = e; }
      assert.equal(err?.code, 'Truncated');
      assert.deepEqual(names, ['a', 'b', 'c', 'z']);
    }
    // breaking out early leaves the caller's pool usable
    for await (const t of decodeStream(chunkedStream(bytes, 7).stream, { pool })) { assert.equal(t.name, 'a'); break; }
    const again = await collect(chunkedStream(bytes, 64).stream, { pool });
    again.forEach((g, i) => sameTensor(g, want[i]));
  } finally {
    await pool.terminate();
  }
  assert.equal((await streamError(chunkedStream(bytes, 7).stream, { workers: -1 }))?.code, 'BadArgument');
});

test('single-bit corruptions: decodeStream and decodeAsync report what decode() reports', async () => {
  const { decodeAsync } = await import('../src/index.js');
  const good = sample();
  const rand = rng(2024);
  const pool = await createDecoderPool(2);
  const outcome = (e, tensors) => (e ? `${e.code}@${e.offset}/${e.tensor}` : `ok:${tensors.map((t) => t.checksum).join(',')}`);
  let headerFirst = 0;
  try {
    for (let c = 0; c < 400; c++) {
      const b = good.slice();
      const p = Math.floor(rand() * b.length);
      b[p] ^= 1 << Math.floor(rand() * 8);
      let d, s, a;
      try { d = outcome(null, decode(b).tensors); } catch (e) { assert.ok(e instanceof AnspackError, String(e)); d = outcome(e); }
      try { s = outcome(null, await collect(chunkedStream(b, 13).stream)); } catch (e) { assert.ok(e instanceof AnspackError, String(e)); s = outcome(e); }
      try { a = outcome(null, (await pool.decode(b)).tensors); } catch (e) { assert.ok(e instanceof AnspackError, String(e)); a = outcome(e); }
      assert.equal(a, d, `byte ${p}`);
      if (s !== d) {
        // The one allowed difference: a table byte that breaks a block's structure (rule 7; with the
        // coding byte turned to 2, a row-group block's reserved field too). decode() checks every
        // block before the header checksum; a stream cannot see the blocks yet.
        assert.ok(/^(BadModel|ReservedNonZero)@/.test(d) && s === 'ChecksumMismatch@36/null', `byte ${p}: decode ${d}, stream ${s}`);
        headerFirst++;
      }
    }
  } finally {
    await pool.terminate();
  }
  assert.ok(headerFirst < 20, `${headerFirst} header-first differences`);
});

// Spec revision 2: paired and chunked tensors through decodeStream (with and without workers) and
// fetchTensor, and corruptions inside a chunk reported at decode()'s offsets.
function rev2Sample() {
  const r = rng(41);
  return encodeFile([
    { name: 'ch', dtype: 'int8', shape: [30, 40], data: randomInts(r, 1200, 6, -128, 127), lanes: 5, chunk: 250 },
    { name: 'pr', dtype: 'uint8', shape: [600], data: randomInts(r, 600, 1, 0, 255), lanes: 4, pairs: true },
    { name: 'pc', dtype: 'int8', shape: [2, 301], data: randomInts(r, 602, 1.5, -128, 127), lanes: 8, pairs: true, chunk: 40 },
    { name: 'w32', dtype: 'int32', shape: [99], data: randomInts(r, 99, 1e5, -1e9, 1e9), lanes: 8, chunk: 13 },
  ]);
}

test('paired and chunked tensors: decodeStream (any chunk size, with workers) and fetchTensor equal decode()', async () => {
  const bytes = rev2Sample();
  const info = readHeader(bytes).tensors;
  assert.deepEqual(info.map((t) => [t.pairs, t.chunks]), [[false, 5], [true, 1], [true, 8], [false, 8]]);
  const want = decode(bytes).tensors;
  for (const options of [{}, { workers: 2 }]) {
    for (const size of [1, 13, 4096]) {
      const got = await collect(chunkedStream(bytes, size).stream, options);
      got.forEach((g, i) => sameTensor(g, want[i]));
    }
  }
  const srv = await rangeServer({ '/r.anspack': bytes });
  try {
    for (const t of info) sameTensor(await fetchTensor(srv.url('/r.anspack'), t.name), decodeTensor(bytes, t.name));
    // a corrupt word in chunk 3 of 'pc': fetchTensor reports decode()'s code, offset and tensor
    const pc = info.find((t) => t.name === 'pc');
    const bad = bytes.slice();
    bad[pc.dataOffset + pc.dataSize - 2 * Math.floor(pc.words / 2)] ^= 0x11;
    const wantErr = errorOf(() => decode(bad));
    assert.ok(wantErr && /chunk/.test(wantErr.message), String(wantErr));
    const srv2 = await rangeServer({ '/bad.anspack': bad });
    try {
      await remoteErrorsLikeDecode(srv2.url('/bad.anspack'), 'pc', bad, wantErr);
    } finally {
      await srv2.close();
    }
  } finally {
    await srv.close();
  }
});

// Spec revision 3: PRODUCT pairs (section 7.3) through decodeStream and fetchTensor, chunked or not,
// and a corrupt word of a chunked one reported at decode()'s offset.
test('PRODUCT pair tensors: decodeStream (any chunk size, with workers) and fetchTensor equal decode()', async () => {
  const r = rng(43);
  const small = (n, V, lo) => Array.from({ length: n }, () => lo + Math.min(V - 1, Math.floor(Math.abs(r() + r() - 1) * V)));
  const bytes = encodeFile([
    { name: 'pp', dtype: 'int8', shape: [40, 30], data: small(1200, 9, -4), lanes: 8, precision: 10, product: true, chunk: 60 },
    { name: 'p1', dtype: 'uint8', shape: [602], data: small(602, 3, 1), lanes: 5, precision: 4, product: true },
    { name: 'w', dtype: 'int16', shape: [99], data: small(99, 40, -20), lanes: 4, chunk: 30 },
  ]);
  const info = readHeader(bytes).tensors;
  assert.deepEqual(info.map((t) => [t.product, t.chunks]), [[true, 10], [true, 1], [false, 4]]);
  const want = decode(bytes).tensors;
  for (const options of [{}, { workers: 2 }]) {
    for (const size of [1, 13, 4096]) {
      const got = await collect(chunkedStream(bytes, size).stream, options);
      got.forEach((g, i) => sameTensor(g, want[i]));
    }
  }
  const bad = bytes.slice();
  const pp = info[0];
  bad[pp.dataOffset + pp.dataSize - 2 * Math.floor(pp.words / 3)] ^= 0x21;
  const wantErr = errorOf(() => decode(bad));
  assert.ok(wantErr && /chunk/.test(wantErr.message), String(wantErr));
  const srv = await rangeServer({ '/p.anspack': bytes, '/bad.anspack': bad });
  try {
    for (const t of info) sameTensor(await fetchTensor(srv.url('/p.anspack'), t.name), decodeTensor(bytes, t.name));
    await remoteErrorsLikeDecode(srv.url('/bad.anspack'), 'pp', bad, wantErr);
  } finally {
    await srv.close();
  }
});
