// Output arrays allocated without zeroing (index.js newOutputArray: Buffer.allocUnsafeSlow in node for
// arrays of 64 KiB and more): every entry is written by the decoder, so the result is the same as into
// arrays prefilled with a marker, whatever the memory held before; the arrays are ordinary typed
// arrays over an ArrayBuffer of their own, of exactly their size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, decodeAsync, newOutputArray, ARRAY_TYPES } from '../src/index.js';
import { encodeFile, rng, randomInts } from './helpers/encoder.js';

function bigFile() {
  const r = rng(41);
  return encodeFile([
    { name: 'chunked', dtype: 'int8', shape: [300, 400], data: randomInts(r, 120000, 9, -128, 127), lanes: 8, chunk: 20000 },
    { name: 'pairs', dtype: 'uint8', shape: [70001 * 2], data: randomInts(r, 140002, 2, 0, 255), lanes: 4, pairs: true },
    { name: 'product', dtype: 'int8', shape: [90000], data: randomInts(r, 90000, 2, -8, 7), lanes: 8, product: true, chunk: 10000 },
    { name: 'wide', dtype: 'int16', shape: [40000], data: randomInts(r, 40000, 200, -32768, 32767), lanes: 5 },
    { name: 'ids', dtype: 'int32', shape: [20000], data: randomInts(r, 20000, 200, -2e9, 2e9), lanes: 8 },
    { name: 'single', dtype: 'uint16', shape: [50000], data: new Array(50000).fill(4321), lanes: 2 },
    { name: 'raw', dtype: 'float32', shape: [20000], data: Array.from({ length: 20000 }, (_, i) => i / 7 - 99), raw: true },
    { name: 'tiny', dtype: 'int8', shape: [100], data: randomInts(r, 100, 3, -128, 127), lanes: 2 },
  ]);
}

/** Fill a lot of memory with 0xA5 and drop it, so that unzeroed allocations likely reuse it. */
function dirtyMemory() {
  const keep = [];
  for (let i = 0; i < 64; i++) keep.push(Buffer.allocUnsafeSlow(65536 * (1 + (i % 5))).fill(0xa5));
  return keep.length;
}

test('newOutputArray: an ordinary typed array of its own buffer, of exactly its size', () => {
  for (const Ctor of new Set(Object.values(ARRAY_TYPES))) {
    for (const n of [0, 1, 100, 16384, 70001, 1 << 20]) {
      const a = newOutputArray(Ctor, n);
      assert.ok(a instanceof Ctor);
      assert.equal(Object.getPrototypeOf(a), Ctor.prototype, 'not a Buffer');
      assert.equal(a.length, n);
      assert.equal(a.byteOffset, 0);
      assert.ok(a.buffer instanceof ArrayBuffer);
      assert.equal(a.buffer.byteLength, n * Ctor.BYTES_PER_ELEMENT);
    }
  }
});

test('decode into unzeroed arrays == decode into arrays prefilled with a marker (every entry written)', async () => {
  const f = bigFile();
  for (const engine of ['wasm', 'js']) {
    const marked = {};
    for (const t of decode(f, { engine }).tensors) marked[t.name] = new t.data.constructor(t.data.length).fill(0x5a);
    const want = decode(f, { engine, outputs: marked });
    for (let round = 0; round < 3; round++) {
      dirtyMemory();
      const got = decode(f, { engine });
      got.tensors.forEach((t, i) => {
        const w = want.tensors[i];
        assert.equal(t.data.constructor, w.data.constructor, t.name);
        assert.equal(t.data.byteOffset, 0);
        assert.equal(t.data.buffer.byteLength, t.data.byteLength, t.name);
        assert.ok(Buffer.from(t.data.buffer).equals(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)), `${t.name} (${engine})`);
      });
    }
  }
  // the workers' arrays, and a split tensor's home array (async.js), likewise
  const want = decode(f);
  for (const workers of [2, 3]) {
    dirtyMemory();
    const got = await decodeAsync(f, { workers });
    got.tensors.forEach((t, i) => {
      assert.equal(t.data.buffer.byteLength, t.data.byteLength, t.name);
      assert.ok(Buffer.from(t.data.buffer).equals(Buffer.from(want.tensors[i].data.buffer)), `${t.name} (${workers} workers)`);
    });
  }
});
