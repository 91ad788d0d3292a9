// Two or four chunks in one WebAssembly loop (src/wasm/rans_pair.wat and rans_quad.wat, driven by
// wasmStreams in src/wasm/engine.js; decodeRansChunks in src/rans.js takes chunks four at a time
// where L = 8, else two at a time where L is a multiple of 4). Chunked tensors (spec section 7.2)
// with K = 2, 3, 4, 5, 6, 9 and 100 chunks, every L in 1..17, P in {1, 5, 12, 15}, every integer
// dtype and pairs, chunk sizes that are and are not multiples of L, a last chunk shorter than the
// others (even shorter than L): the wasm engine == the js engine == the reference decoder == the
// encoded entries. A corrupt chunk in any position of a quad or a pair (or alone, the odd last one)
// gives the same error (code, offset, message) as the js engine, which decodes one chunk after the
// other; verify: false and caller-supplied outputs too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, decodeTensor } from '../src/index.js';
import { parseHeader, ransArrays, blockChecksum, BLOCK_CHECKSUM_AT, HEADER_CHECKSUM_AT } from '../src/header.js';
import { decodeTensorReference } from '../src/reference.js';
import { pairLanes, quadLanes, wasmPrepare, wasmStream, wasmStreams, wasmRelease } from '../src/wasm/engine.js';
import { RANS_WASM_BASE64, RANS_PAIR_WASM_BASE64, RANS_QUAD_WASM_BASE64 } from '../src/wasm/rans_wasm.js';
import { encodeFile, buildModel, ransEncode, fxhash26Ref, rng } from './helpers/encoder.js';

const ARRAYS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array };
const RANGES = { int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1] };
const DTYPES = Object.keys(ARRAYS);
const PS = [1, 5, 12, 15];
const KS = [2, 3, 4, 5, 6, 9, 100];
const bytesOf = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** n skewed random values of a dtype with at most min(2^P, maxV) distinct values. */
function randomValues(r, n, P, dtype, maxV = 200) {
  const [lo, hi] = RANGES[dtype];
  const V = Math.max(2, Math.min(2 ** P, 2 + Math.floor(r() * maxV)));
  const pool = Array.from({ length: V }, () => lo + Math.floor(r() * (hi - lo + 1)));
  return Array.from({ length: n }, () => pool[Math.min(V - 1, Math.floor(Math.abs(r() + r() + r() - 1.5) * V / 1.5))]);
}

/** Symbols per chunk Q (>= L) and symbol count N for K chunks; `last` picks the last chunk's size. */
function shape(r, L, K, variant) {
  const Q = variant % 2 === 0 ? L * (2 + Math.floor(r() * 6)) : L * (2 + Math.floor(r() * 6)) + 1 + Math.floor(r() * (L - 1 || 1));
  const last = [Q, 1 + Math.floor(r() * Math.min(L, Q)), 1 + Math.floor(r() * Q)][variant % 3];
  return { Q, N: (K - 1) * Q + last };
}

function reference(bytes, name) {
  const hdr = parseHeader(bytes);
  const t = hdr.tensors.find((x) => x.name === name);
  const m = ransArrays(hdr.bytes, t);
  return decodeTensorReference({ ...m, words: Array.from(m.words).slice(0, t.words) }, Array.from(m.vals), { pairs: t.pairs, signed: t.dtype === 'int8' });
}

/** Decode with every engine (and into a caller's output, and with verify: false); all must agree. */
function checkFile(bytes, tensors, label) {
  const info = parseHeader(bytes).tensors;
  const results = ['js', 'wasm', 'auto'].map((engine) => decode(bytes, { engine }));
  results.push(decode(bytes, { engine: 'wasm', verify: false }));
  tensors.forEach((t, i) => {
    const want = bytesOf(ARRAYS[t.dtype].from(t.data));
    for (const r of results) {
      assert.ok(bytesOf(r.tensors[i].data).equals(want), `${label} ${t.name}`);
      assert.equal(r.tensors[i].checksum, info[i].checksum, `${label} ${t.name}`);
    }
    // the `out` option: an output array with room to spare, and an unaligned view for pairs
    const big = new (ARRAYS[t.dtype])(t.data.length + 3);
    const out = t.pairs ? new (ARRAYS[t.dtype])(big.buffer, 1, t.data.length) : big;
    const got = decodeTensor(bytes, t.name, { engine: 'wasm', out });
    assert.ok(bytesOf(got.data).equals(want), `${label} ${t.name} out`);
    if (!t.pairs) assert.equal(big[t.data.length], 0, 'nothing written past n');
    const ref = reference(bytes, t.name);
    assert.equal(ref.status, 'ok');
    assert.deepEqual(ref.entries, Array.from(t.data), `${label} ${t.name} reference`);
    assert.equal(ref.checksum, info[i].checksum);
  });
}

test('three modules, each below 4 KB (synchronous compilation on a browser main thread); the pair and quad modules import the memory', () => {
  const main = Buffer.from(RANS_WASM_BASE64, 'base64');
  assert.ok(main.length < 4096, `rans.wat: ${main.length} bytes`);
  for (const [b64, file, name] of [[RANS_PAIR_WASM_BASE64, 'rans_pair.wat', 'decodeV2'], [RANS_QUAD_WASM_BASE64, 'rans_quad.wat', 'decodeV4']]) {
    const bytes = Buffer.from(b64, 'base64');
    assert.ok(bytes.length < 4096, `${file}: ${bytes.length} bytes`);
    const mod = new WebAssembly.Module(bytes);
    assert.deepEqual(WebAssembly.Module.imports(mod), [{ module: 'env', name: 'mem', kind: 'memory' }]);
    assert.deepEqual(WebAssembly.Module.exports(mod).map((e) => e.name), [name]);
  }
});

test('pairLanes: two streams in one loop for L a multiple of 4; quadLanes: four for L = 8', () => {
  for (let L = 1; L <= 40; L++) {
    assert.equal(pairLanes(L), L % 4 === 0, `L=${L}`);
    assert.equal(quadLanes(L), L === 8, `L=${L}`);
  }
});

// Every L in 1..17 with every K; P and the dtype vary with (L, K), and L = 4, 8, 12, 16 (paired
// streams) take every P with every K.
for (let L = 1; L <= 17; L++) {
  for (const K of KS) {
    const Ps = L % 4 === 0 ? PS : [PS[(L + K) % 4]];
    for (const P of Ps) {
      const dtype = DTYPES[(L * 7 + K + P) % DTYPES.length];
      test(`K=${K} L=${L} P=${P} ${dtype}: wasm == js == reference, three last-chunk sizes`, () => {
        for (let variant = 0; variant < 3; variant++) {
          const r = rng(L * 100003 + K * 101 + P * 7 + variant);
          const { Q, N } = shape(r, L, K, variant);
          const data = randomValues(r, N, P, dtype);
          const tensors = [
            { name: 'w', dtype, shape: [N], data, lanes: L, precision: P, chunk: Q },
            { name: 'v', dtype, shape: [N], data: data.slice().reverse(), lanes: L, precision: P, chunk: Q },
          ];
          const bytes = encodeFile(tensors);
          const t = parseHeader(bytes).tensors[0];
          assert.equal(t.chunks, K);
          assert.equal(t.lanes, L);
          checkFile(bytes, tensors, `K=${K} L=${L} P=${P} ${dtype} Q=${Q} N=${N}`);
        }
      });
    }
  }
}

// Pairs (u16 symbols) on int8 / uint8, every L in 1..17, K = 2, 3, 4, 5, 6, 9, 100.
for (let L = 1; L <= 17; L++) {
  test(`pairs: L=${L}, K = ${KS.join(', ')}, int8 and uint8, P = 12 and 15`, () => {
    for (const K of KS) {
      const r = rng(L * 31 + K);
      const { Q, N } = shape(r, L, K, K);
      const dtype = K % 2 ? 'int8' : 'uint8';
      const [lo, hi] = RANGES[dtype];
      const data = Array.from({ length: 2 * N }, () => Math.max(lo, Math.min(hi, Math.round((r() + r() + r() - 1.5) * 6)) + (dtype === 'uint8' ? 8 : 0)));
      const tensors = [{ name: 'w', dtype, shape: [2 * N], data, lanes: L, pairs: true, chunk: Q, precision: K % 2 ? 12 : 15 }];
      const bytes = encodeFile(tensors);
      const t = parseHeader(bytes).tensors[0];
      assert.equal(t.pairs, true);
      assert.equal(t.chunks, K);
      checkFile(bytes, tensors, `pairs L=${L} K=${K} Q=${Q}`);
    }
  });
}

test('wasmStreams == wasmStream per stream, two or four streams of different lengths (whole rows, partial rows, n < L)', () => {
  const cases = [[4, 1, 12, 2], [8, 2, 15, 2], [12, 4, 9, 2], [16, 1, 5, 2], [32, 2, 12, 2], [8, 1, 12, 4], [8, 2, 15, 4], [8, 4, 9, 4], [8, 1, 1, 4]];
  for (const [L, sz, P, q] of cases) {
    const dtype = { 1: 'uint8', 2: 'int16', 4: 'int32' }[sz];
    const r = rng(L + sz + 100 * q + P);
    const lengths = q === 2
      ? [[L * 300, L * 300], [L * 300 + 3, L * 7 + 1], [L * 50, 3], [L * 20 + 1, L * 20 + 1], [1 << 17, (1 << 17) - 5], [L, L]]
      : [[L * 300, L * 300, L * 300, L * 300], [L * 300 + 3, L * 7 + 1, L * 400, L * 9], [L * 50, L * 50, L * 50, 3], [L * 20 + 1, L * 20 + 1, L * 20 + 1, L * 20 + 1],
        [1 << 17, (1 << 17) + 8, 1 << 17, (1 << 17) - 5], [L, L, L, L], [L * 60, 5, L * 60, L * 60]];
    for (const ns of lengths) {
      const values = randomValues(r, ns.reduce((x, y) => x + y, 0), P, dtype, 1000);
      const m = buildModel(values, P);
      const starts = ns.map((_, k) => ns.slice(0, k).reduce((x, y) => x + y, 0));
      const streams = ns.map((n, k) => {
        const ids = m.ids.slice(starts[k], starts[k] + n);
        const { states, words } = ransEncode(ids, m.freqs, m.cdf, P, L);
        return { states: Uint32Array.from(states), words: Uint16Array.from(words), W: words.length, n, ids };
      });
      const vals = ARRAYS[dtype].from(m.vocab);
      const cdf = Uint16Array.from(m.cdf);
      const maxW = Math.max(...streams.map((s) => s.W));
      const ctx = wasmPrepare(cdf, P, vals, L, maxW, q);
      const outs = ns.map((n) => new (ARRAYS[dtype])(n));
      let rs;
      try {
        rs = wasmStreams(ctx, streams.map((s, k) => ({ ...s, out: outs[k] })));
      } finally {
        wasmRelease(ctx);
      }
      const label = `L=${L} sz=${sz} q=${q} ns=${ns}`;
      assert.equal(rs.length, q);
      streams.forEach((s, k) => {
        assert.equal(rs[k].status, 'ok', label);
        assert.equal(rs[k].checksum, fxhash26Ref(s.ids), label);
        assert.deepEqual(Array.from(outs[k]), values.slice(starts[k], starts[k] + s.n).map(Number), label);
      });
      // the same streams one after the other
      const ctx1 = wasmPrepare(cdf, P, vals, L, maxW, 1);
      try {
        streams.forEach((s, k) => assert.deepEqual(wasmStream(ctx1, s.states, s.words, s.W, s.n, new (ARRAYS[dtype])(s.n)), rs[k], label));
      } finally {
        wasmRelease(ctx1);
      }
    }
  }
});

test('wasmStreams: a stream that fails ends the results (nulls after it), the streams before it are as alone', () => {
  const L = 8, P = 12;
  const r = rng(4242);
  const ns = [L * 500, L * 500, L * 500, L * 500];
  const values = randomValues(r, 4 * L * 500, P, 'uint8', 100);
  const m = buildModel(values, P);
  const vals = Uint8Array.from(m.vocab), cdf = Uint16Array.from(m.cdf);
  const streams = ns.map((n, k) => {
    const { states, words } = ransEncode(m.ids.slice(k * n, (k + 1) * n), m.freqs, m.cdf, P, L);
    return { states: Uint32Array.from(states), words: Uint16Array.from(words), W: words.length, n };
  });
  for (let bad = 0; bad < 4; bad++) {
    for (const how of ['underrun', 'leftover', 'badFinalState']) {
      const list = streams.map((s, k) => {
        if (k !== bad) return { ...s, out: new Uint8Array(s.n) };
        if (how === 'underrun') return { ...s, W: s.W - 40, words: s.words.subarray(0, s.W - 40), out: new Uint8Array(s.n) };
        if (how === 'leftover') return { ...s, W: s.W + 1, words: Uint16Array.from([...s.words, 7]), out: new Uint8Array(s.n) };
        const states = s.states.slice();
        states[5] ^= 0x40;
        return { ...s, states, out: new Uint8Array(s.n) };
      });
      const ctx = wasmPrepare(cdf, P, vals, L, Math.max(...list.map((s) => s.W)), 4);
      let rs;
      try {
        rs = wasmStreams(ctx, list);
      } finally {
        wasmRelease(ctx);
      }
      const label = `stream ${bad} ${how}`;
      for (let k = 0; k < bad; k++) assert.equal(rs[k].status, 'ok', label);
      assert.notEqual(rs[bad].status, 'ok', label);
      if (how !== 'badFinalState') assert.equal(rs[bad].status, how, label);
      for (let k = bad + 1; k < 4; k++) assert.equal(rs[k], null, label);
      // the failing stream's result is what wasmStream gives for it alone
      const ctx1 = wasmPrepare(cdf, P, vals, L, list[bad].W, 1);
      try {
        const s = list[bad];
        assert.deepEqual(wasmStream(ctx1, s.states, s.words, s.W, s.n, new Uint8Array(s.n)), rs[bad], label);
      } finally {
        wasmRelease(ctx1);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Corrupt chunks: the wasm engine (paired chunks) must fail exactly as the js engine (one chunk at
// a time): same code, offset, message and tensor, or both decode to the same bytes.

/** Recompute the block and header checksums, so that only the intended change is wrong. */
function refresh(b) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let hdr = null;
  try {
    hdr = parseHeader(b, { verify: false });
  } catch { /* a structural error comes before any checksum */ }
  if (hdr !== null) for (const t of hdr.tensors) dv.setUint32(t.entryOffset + BLOCK_CHECKSUM_AT, blockChecksum(hdr.bytes, t), true);
  const metaEnd = 40 + dv.getUint32(28, true) + dv.getUint32(32, true);
  const head = b.slice(0, metaEnd);
  head.fill(0, HEADER_CHECKSUM_AT, HEADER_CHECKSUM_AT + 4);
  dv.setUint32(HEADER_CHECKSUM_AT, fxhash26Ref(head), true);
  return b;
}

function outcome(bytes, options) {
  try {
    const { tensors } = decode(bytes, options);
    return { ok: tensors.map((t) => bytesOf(t.data).toString('hex')).join('|') };
  } catch (e) {
    return { code: e.code, offset: e.offset, message: e.message, tensor: e.tensor };
  }
}

function sameAsJs(bytes, label) {
  const seen = [];
  for (const verify of [true, false]) {
    const js = outcome(bytes, { engine: 'js', verify });
    assert.deepEqual(outcome(bytes, { engine: 'wasm', verify }), js, `${label} verify=${verify}`);
    seen.push(js.code ?? 'ok');
  }
  return seen;
}

for (const [L, K] of [[4, 5], [8, 5], [8, 7], [12, 5], [16, 5], [5, 5]]) {
  test(`L=${L}, K = ${K}: a corrupt chunk in any position (of a quad for L = 8, of a pair, or the odd last one) fails as in the js engine`, () => {
    const r = rng(L * 977);
    const Q = L * 37 + (L > 4 ? 3 : 0);
    const N = (K - 1) * Q + Math.max(1, L - 2);
    const data = randomValues(r, N, 11, 'int16', 500);
    const base = encodeFile([{ name: 'w', dtype: 'int16', shape: [N], data, lanes: L, precision: 11, chunk: Q }]);
    const T = parseHeader(base).tensors[0];
    assert.equal(T.chunks, K);
    const CW = T.chunkTableOffset, CK = CW + 4 * T.chunks;
    const dv0 = new DataView(base.buffer, base.byteOffset);
    const W = Array.from({ length: K }, (_, k) => dv0.getUint32(CW + 4 * k, true));
    const start = (k) => W.slice(0, k).reduce((x, y) => x + y, 0);
    const codes = new Set();
    const mutate = (fn, fix = true) => {
      const b = base.slice();
      fn(new DataView(b.buffer, b.byteOffset), b);
      return fix ? refresh(b) : b;
    };
    for (let k = 0; k < K; k++) {
      const label = `L=${L} chunk ${k}`;
      // a word of chunk k changed (words are outside the block checksum)
      for (const at of W[k] > 0 ? [0, Math.floor(W[k] / 2), W[k] - 1] : []) {
        const o = T.wordsOffset + 2 * (start(k) + at);
        sameAsJs(mutate((dv) => dv.setUint16(o, dv.getUint16(o, true) ^ 0x5a5a, true), false), `${label} word ${at}`).forEach((c) => codes.add(c));
      }
      // a lane state of chunk k changed: a bad final state, an under-run or left-over words
      for (const j of [0, L - 1]) {
        const o = T.statesOffset + 4 * (k * L + j);
        sameAsJs(mutate((dv) => dv.setUint32(o, dv.getUint32(o, true) ^ 0x1003, true)), `${label} state ${j}`).forEach((c) => codes.add(c));
        sameAsJs(mutate((dv) => dv.setUint32(o, 0x10000, true)), `${label} state ${j} = 2^16`).forEach((c) => codes.add(c));
      }
      // chunk k's stored checksum wrong: ChecksumMismatch at chunk_checksums[k] (verify), else decodes
      const bad = mutate((dv) => dv.setUint32(CK + 4 * k, dv.getUint32(CK + 4 * k, true) ^ 0x20, true));
      assert.deepEqual(sameAsJs(bad, `${label} checksum`), ['ChecksumMismatch', 'ok']);
      assert.equal(outcome(bad, { engine: 'wasm' }).offset, CK + 4 * k);
      // a word moved from chunk k to chunk k + 1 (under-run of k) and back (k leaves one over)
      if (k < K - 1) {
        const under = mutate((dv) => { dv.setUint32(CW + 4 * k, W[k] - 1, true); dv.setUint32(CW + 4 * k + 4, W[k + 1] + 1, true); });
        const u = outcome(under, { engine: 'wasm' });
        assert.equal(u.code, 'CorruptStream');
        assert.match(u.message, new RegExp(`under-run|chunk ${k}`));
        sameAsJs(under, `${label} under-run`);
        if (W[k + 1] === 0) continue; // (the short last chunk may have no word to give)
        const over = mutate((dv) => { dv.setUint32(CW + 4 * k, W[k] + 1, true); dv.setUint32(CW + 4 * k + 4, W[k + 1] - 1, true); });
        const v = outcome(over, { engine: 'wasm' });
        assert.equal(v.code, 'CorruptStream', v.message);
        assert.match(v.message, new RegExp(`words left over: ${W[k]} of the ${W[k] + 1} words of chunk ${k}`));
        assert.equal(v.offset, T.wordsOffset + 2 * (start(k) + W[k]));
        sameAsJs(over, `${label} left over`);
      }
    }
    // both chunks of a pair corrupt: the first one is reported
    const both = mutate((dv) => { dv.setUint32(CK, dv.getUint32(CK, true) ^ 1, true); dv.setUint32(CK + 4, dv.getUint32(CK + 4, true) ^ 1, true); });
    assert.equal(outcome(both, { engine: 'wasm' }).offset, CK);
    sameAsJs(both, 'both');
    // chunk 0 fine, chunk 1 (the second of the pair) under-runs from its first row
    const o1 = T.statesOffset + 4 * L;
    const u1 = mutate((dv) => { for (let j = 0; j < L; j++) dv.setUint32(o1 + 4 * j, 0xffffffff, true); });
    sameAsJs(u1, 'chunk 1 states all 2^32 - 1');
    assert.equal(outcome(u1, { engine: 'wasm' }).code, 'CorruptStream');
    assert.ok(codes.has('CorruptStream'));
  });
}

for (const [refused, want] of [['pair and quad', { pair: false, quad: false }], ['quad', { pair: true, quad: false }]]) {
  test(`where the ${refused} module${refused === 'quad' ? ' does' : 's do'} not compile, chunks are decoded fewer at a time (same results)`, async () => {
    // A child node whose WebAssembly.Module refuses the modules that import a memory (the pair and quad
    // ones), or only the quad one: the engine must still decode chunked files with the wasm engine, as
    // the js engine does.
    const { execFileSync } = await import('node:child_process');
    const src = new URL('../src/', import.meta.url).href;
    const script = `
      const Real = WebAssembly.Module;
      WebAssembly.Module = function (bytes) {
        const m = new Real(bytes);
        const refuse = ${refused === 'quad'} ? Real.exports(m).some((e) => e.name === 'decodeV4') : Real.imports(m).length > 0;
        if (refuse) throw new WebAssembly.CompileError('refused for the test');
        return m;
      };
      Object.assign(WebAssembly.Module, { imports: Real.imports, exports: Real.exports });
      const { pairLanes, quadLanes, wasmAvailable } = await import('${src}wasm/engine.js');
      const { decode } = await import('${src}index.js');
      const { encodeFile, rng, randomInts } = await import('${new URL('./helpers/encoder.js', import.meta.url).href}');
      const data = randomInts(rng(5), 5000, 9, -128, 127);
      const bytes = encodeFile([{ name: 'w', dtype: 'int8', shape: [5000], data, lanes: 8, chunk: 700 }]);
      const a = decode(bytes, { engine: 'wasm' }).tensors[0], b = decode(bytes, { engine: 'js' }).tensors[0];
      const same = a.checksum === b.checksum && a.data.every((x, i) => x === data[i]);
      console.log(JSON.stringify({ available: wasmAvailable(), pair: pairLanes(8), quad: quadLanes(8), same }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()), { available: true, ...want, same: true });
  });
}
