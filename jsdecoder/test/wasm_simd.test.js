// The SIMD loop of src/wasm/rans.wat (decodeV: four lanes per v128, used for L >= 5; decode8 is
// decodeV with L = 8) against the scalar loops and the readable reference decoder: every L from 1 to
// 40 (scalar for 1-4, SIMD groups plus a scalar tail of L mod 4 lanes above), every precision P,
// every integer dtype, rows split over staging calls, and cut, padded or corrupted streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRansReference } from '../src/reference.js';
import { RANS_WASM_BASE64 } from '../src/wasm/rans_wasm.js';
import { fxhash26Ref, rng } from './helpers/encoder.js';
import { assertEnginesAgree, bytesOf, run, stream } from './helpers/engines.js';

const ARRAYS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array };
const RANGES = { int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1] };
const DTYPES = Object.keys(ARRAYS);

/** Skewed random values with at most min(2^P, maxV) distinct values spread over the dtype's range. */
function randomValues(r, n, P, dtype, maxV = 300) {
  const [lo, hi] = RANGES[dtype];
  const V = Math.min(2 ** P, 1 + Math.floor(r() * Math.min(2 ** P, maxV)));
  const pool = Array.from({ length: V }, () => lo + Math.floor(r() * (hi - lo + 1)));
  return Array.from({ length: n }, () => pool[Math.min(V - 1, Math.floor(Math.abs(r() + r() + r() - 1.5) * V / 1.5))]);
}



test('the module exports the SIMD loop (decodeV) and decode8 with the scalar loops', () => {
  const mod = new WebAssembly.Module(Buffer.from(RANS_WASM_BASE64, 'base64'));
  const names = WebAssembly.Module.exports(mod).map((e) => e.name).sort();
  assert.deepEqual(names, ['decode1', 'decode2', 'decode4', 'decode8', 'decodeN', 'decodeV', 'mem', 'table']);
});

// table(V, cdfAt, valsAt, ids) builds the slot table (rans.wat's layout: per slot the u16s slot - c,
// f, value bits (ids: s), s) that engine.js wrote from JS before: compared slot by slot with that
// JS writer, for every dtype width, V = 2 (one slot for the first symbol) up to V = 2^P = 2^15
// (one slot each), and the bytes past 8 * 2^P left alone.
test('table() writes the slot table the JS writer wrote', () => {
  const mod = new WebAssembly.Module(Buffer.from(RANS_WASM_BASE64, 'base64'));
  const e = new WebAssembly.Instance(mod, {}).exports;
  e.mem.grow(4);
  const r = rng(77);
  const cases = [[2, 1, 1], [2, 8, 2], [3, 12, 4], [225, 14, 2], [255, 12, 1], [2 ** 15, 15, 2], [1000, 15, 4], [40000 - 39990, 15, 1]];
  for (const [V, P, sz] of cases) {
    // a random strictly increasing CDF of V symbols over 2^P slots
    const M = 2 ** P;
    const cuts = new Set([0, M]);
    while (cuts.size < V + 1) cuts.add(1 + Math.floor(r() * (M - 1)));
    const cdf = Uint16Array.from([...cuts].sort((a, b) => a - b));
    const Ctor = sz === 1 ? Int8Array : sz === 2 ? Int16Array : Int32Array;
    const vals = Ctor.from({ length: V }, () => Math.floor(r() * 2 ** 31) - 2 ** 30);
    const want = new Uint32Array(2 * M);
    for (let s = 0; s < V; s++) {
      const c = cdf[s], f = cdf[s + 1] - c;
      const hi = ((sz === 4 ? s : vals[s] & 0xffff) | (s << 16)) >>> 0;
      for (let slot = c; slot < c + f; slot++) { want[2 * slot] = (f << 16) | (slot - c); want[2 * slot + 1] = hi; }
    }
    const u16 = new Uint16Array(e.mem.buffer);
    const cdfAt = 0x70000, valsAt = 0x90000;
    u16.set(cdf, cdfAt >> 1);
    u16.set(vals, valsAt >> 1);
    new Uint32Array(e.mem.buffer).fill(0xdeadbeef, 0, 2 * M + 4);
    e.table(V, cdfAt, valsAt, sz === 4 ? 1 : 0);
    const got = new Uint32Array(e.mem.buffer, 0, 2 * M + 4);
    assert.deepEqual(got.subarray(0, 2 * M), want, `V=${V} P=${P} sz=${sz}`);
    assert.deepEqual([...got.subarray(2 * M)], [0xdeadbeef, 0xdeadbeef, 0xdeadbeef, 0xdeadbeef]);
  }
});

// Every L in 1..40 with every dtype; P takes every value 1..15 across the lane counts (and P = 12
// and 15 for each), n gives many rows plus a partial last row.
for (let L = 1; L <= 40; L++) {
  const Ps = [...new Set([1 + (L % 15), 12, 15])];
  for (const P of Ps) {
    const dtype = DTYPES[(L + P) % DTYPES.length];
    test(`wasm (SIMD for L >= 5) == js == reference: L=${L} P=${P} ${dtype}`, () => {
      const r = rng(L * 1000 + P);
      const n = L * (40 + Math.floor(r() * 60)) + Math.floor(r() * L);
      const values = randomValues(r, n, P, dtype);
      const { m, model } = stream(values, P, L);
      const Ctor = ARRAYS[dtype];
      const wasm = run(model, m.vocab, Ctor, 'wasm');
      const js = run(model, m.vocab, Ctor, 'js');
      const ref = decodeRansReference(model, m.vocab);
      assert.equal(wasm.status, 'ok');
      assert.equal(wasm.checksum, fxhash26Ref(m.ids));
      assert.equal(wasm.checksum, js.checksum);
      assert.equal(wasm.checksum, ref.checksum);
      assert.equal(wasm.wordsRead, model.words.length);
      assert.ok(bytesOf(wasm.out).equals(bytesOf(Ctor.from(values))));
      assert.ok(bytesOf(wasm.out).equals(bytesOf(js.out)));
      assert.deepEqual(Array.from(wasm.out), ref.values);
    });
  }
}

test('SIMD loop: every precision P = 1..15 at L = 8, 13, 16 with a large vocabulary (many refills)', () => {
  for (const L of [8, 13, 16]) {
    for (let P = 1; P <= 15; P++) {
      const r = rng(P * 31 + L);
      const dtype = P > 8 ? 'int16' : 'uint8';
      const values = randomValues(r, 20000 + L + 3, P, dtype, 5000);
      const { m, model } = stream(values, P, L);
      const Ctor = ARRAYS[dtype];
      const wasm = run(model, m.vocab, Ctor, 'wasm');
      const what = `L=${L} P=${P}`;
      assert.equal(wasm.status, 'ok', what);
      assert.equal(wasm.checksum, fxhash26Ref(m.ids), what);
      assert.equal(wasm.wordsRead, model.words.length, what);
      assert.ok(bytesOf(wasm.out).equals(bytesOf(Ctor.from(values))), what);
    }
  }
});

test('SIMD loop: cut, extended and corrupted streams give the same status as the JS engine and the reference', () => {
  const seen = new Set();
  for (const L of [5, 6, 7, 8, 12, 16, 17, 33, 40]) {
    const values = randomValues(rng(L + 77), 6000, 12, 'int8');
    const { m, model } = stream(values, 12, L);
    const W = model.words.length;
    const variants = [
      ['cut to a quarter', { ...model, words: model.words.slice(0, W >> 2) }],
      ['cut one', { ...model, words: model.words.slice(0, W - 1) }],
      ['no words', { ...model, words: new Uint16Array(0) }],
      ['extra word', { ...model, words: Uint16Array.from([...model.words, 1]) }],
      ['last state + 1', { ...model, states: model.states.map((x, j) => (j === L - 1 ? x + 1 : x)) }],
      ['first state - 1', { ...model, states: model.states.map((x, j) => (j === 0 ? x - 1 : x)) }],
      ['word flipped', { ...model, words: model.words.map((w, k) => (k === (W >> 1) ? w ^ 0x8000 : w)) }],
      ['n - 1', { ...model, n: model.n - 1 }],
      ['n - L', { ...model, n: model.n - L }],
    ];
    for (const [label, bad] of variants) {
      assertEnginesAgree(bad, m.vocab, `L=${L} ${label}`, seen);
    }
  }
  for (const s of ['underrun', 'leftover', 'badFinalState']) assert.ok(seen.has(s), `no case gave ${s}`);
});

// The exported loops called directly on one module instance each, with the memory layout of
// rans.wat's header: decodeV and decode8 must leave exactly what the scalar generic loop decodeN
// leaves (output bytes, word cursor, hash, lane states), for 1- and 2-byte output strides.
test('decodeV / decode8 called directly == decodeN: output, word cursor, hash and states', () => {
  const bytes = Buffer.from(RANS_WASM_BASE64, 'base64');
  const ST = 0x60040, CTL = 0x60000;
  for (const [L, sz, P] of [[4, 1, 12], [5, 2, 11], [8, 1, 12], [8, 2, 15], [9, 1, 3], [16, 2, 14], [31, 1, 12], [64, 2, 9]]) {
    const r = rng(L * 7 + sz);
    const values = randomValues(r, L * 500, P, sz === 1 ? 'uint8' : 'uint16', 3000);
    const { m, model } = stream(values, P, L);
    const outs = [];
    for (const fname of L === 8 ? ['decodeN', 'decodeV', 'decode8'] : ['decodeN', 'decodeV']) {
      const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
      const e = inst.exports;
      e.mem.grow(32);
      const u8 = new Uint8Array(e.mem.buffer), u16 = new Uint16Array(e.mem.buffer), u32 = new Uint32Array(e.mem.buffer);
      for (let s = 0; s + 1 < m.cdf.length; s++) {
        for (let slot = m.cdf[s]; slot < m.cdf[s + 1]; slot++) {
          u16.set([slot - m.cdf[s], m.cdf[s + 1] - m.cdf[s], m.vocab[s] & 0xffff, s], 4 * slot);
        }
      }
      u32.set(model.states, ST >> 2);
      const wordsAt = (ST + 4 * L + 7) & ~7;
      u16.set(model.words, wordsAt >> 1);
      const wlim = wordsAt + 2 * model.words.length;
      const op = Math.ceil((wlim + 2 * (4096 + 16 + L)) / 8) * 8;
      u32.set([wordsAt, 0, 0], CTL >> 2);
      const oend = op + values.length * sz;
      const reached = e[fname](P, sz, op, oend, wlim, ST, L);
      assert.equal(reached, oend, `${fname} L=${L}`);
      outs.push({ fname, out: Buffer.from(u8.slice(op, oend)), ctl: [u32[CTL >> 2], u32[(CTL >> 2) + 2]], states: Array.from(u32.subarray(ST >> 2, (ST >> 2) + L)) });
    }
    const [n0, ...rest] = outs;
    assert.equal(n0.ctl[0], (ST + 4 * L + 7 & ~7) + 2 * model.words.length);
    assert.equal(n0.ctl[1] >>> 6, fxhash26Ref(m.ids));
    for (const o of rest) {
      const what = `${o.fname} vs decodeN, L=${L} sz=${sz} P=${P}`;
      assert.ok(o.out.equals(n0.out), what);
      assert.deepEqual(o.ctl, n0.ctl, what);
      assert.deepEqual(o.states, n0.states, what);
    }
  }
});
