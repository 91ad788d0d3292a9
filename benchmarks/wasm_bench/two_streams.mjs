// The loops alone: two independent rANS streams (as two chunks of a tensor, spec section 7.2) decoded
// one after the other by rans.wat's loops (decode4 for L = 4, decodeV for L >= 5: what engine.js
// does for one stream) vs both at once by decodeV2 of rans_pair.wat (a row of stream A's groups
// interleaved with stream B's, each with its own word cursor and FxHash26 chain: one stream's loop
// is capped by its serial chain, ~500 M entries/s here; two chains run side by side). Same two
// streams (the halves of 2^22 randn*8 int8 entries, P = 12), whole rows, 1-byte output, no staging.
// (This was the prototype of rans_pair.wat; since d446959 it times the committed modules.)
// Usage: node benchmarks/wasm_bench/two_streams.mjs [L...]   (default 4 8 12 16 32)
import { loadavg } from 'node:os';
import { RANS_WASM_BASE64, RANS_PAIR_WASM_BASE64 } from '../../jsdecoder/src/wasm/rans_wasm.js';
import { buildModel, ransEncode, fxhash26Ref, rng } from '../../jsdecoder/test/helpers/encoder.js';

const mainBytes = Buffer.from(RANS_WASM_BASE64, 'base64');
const pairBytes = Buffer.from(RANS_PAIR_WASM_BASE64, 'base64');
console.log(`node ${process.version}, load average ${loadavg()[0].toFixed(2)}; best of 10 interleaved rounds\n`);
console.log('| L | committed loops, one stream after the other, M/s | decodeV2, both streams in one loop, M/s | ratio |\n|---:|---:|---:|---:|');
for (const L of (process.argv.length > 2 ? process.argv.slice(2).map(Number) : [4, 8, 12, 16, 32])) {
  const n = Math.floor(2 ** 21 / L) * L; // per stream
  const r = rng(1);
  const vals = new Int8Array(2 * n);
  for (let i = 0; i < 2 * n; i++) {
    const u = r() || 1e-9, v = r();
    vals[i] = Math.max(-128, Math.min(127, Math.round(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) * 8)));
  }
  const P = 12;
  const m = buildModel(Array.from(vals), P);
  const sA = ransEncode(m.ids.slice(0, n), m.freqs, m.cdf, P, L), sB = ransEncode(m.ids.slice(n), m.freqs, m.cdf, P, L);
  const wantA = fxhash26Ref(m.ids.slice(0, n)), wantB = fxhash26Ref(m.ids.slice(n));
  const stA = 0x60040, stB = 0x60040 + 4 * L + 64;
  const wA = (stB + 4 * L + 7) & ~7, wB = wA + 2 * sA.words.length + 2 * (4096 + 16 + L) + 64;
  const outA = wB + 2 * sB.words.length + 2 * (4096 + 16 + L) + 64, outB = outA + n + 64;
  const mk = (two) => {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(mainBytes), {});
    const mem = inst.exports.mem;
    const pair = two ? new WebAssembly.Instance(new WebAssembly.Module(pairBytes), { env: { mem } }).exports.decodeV2 : null;
    mem.grow(Math.ceil((outB + n + 64) / 65536));
    const u16 = new Uint16Array(mem.buffer);
    for (let s = 0; s + 1 < m.cdf.length; s++) {
      for (let slot = m.cdf[s]; slot < m.cdf[s + 1]; slot++) u16.set([slot - m.cdf[s], m.cdf[s + 1] - m.cdf[s], m.vocab[s] & 0xff, s], 4 * slot);
    }
    u16.set(sA.words, wA >> 1);
    u16.set(sB.words, wB >> 1);
    return { e: inst.exports, pair, u32: new Uint32Array(mem.buffer), u8: new Uint8Array(mem.buffer) };
  };
  const one = mk(false), two = mk(true);
  const check = (u8) => {
    for (let i = 0; i < n; i++) {
      if (((u8[outA + i] << 24) >> 24) !== vals[i] || ((u8[outB + i] << 24) >> 24) !== vals[n + i]) throw new Error(`L=${L}: wrong output at ${i}`);
    }
  };
  const runOne = () => {
    const { e, u32 } = one;
    const fn = L === 4 ? e.decode4 : e.decodeV;
    u32.set(sA.states, stA >> 2);
    u32.set([wA, 0, 0], 0x60000 >> 2);
    const t = performance.now();
    fn(P, 1, outA, outA + n, 0x7fffffff, stA, L);
    const csA = u32[0x60008 >> 2] >>> 6;
    u32.set(sB.states, stB >> 2);
    u32.set([wB, 0, 0], 0x60000 >> 2);
    fn(P, 1, outB, outB + n, 0x7fffffff, stB, L);
    const dt = performance.now() - t;
    if (csA !== wantA || (u32[0x60008 >> 2] >>> 6) !== wantB) throw new Error(`L=${L}: committed loop, wrong checksum`);
    return dt;
  };
  const runTwo = () => {
    const { pair, u32 } = two;
    u32.set(sA.states, stA >> 2);
    u32.set(sB.states, stB >> 2);
    u32.set([wA, 0, 0], 0x60000 >> 2);
    u32.set([wB, 0, 0], 0x60010 >> 2);
    const t = performance.now();
    pair(P, 1, outA, outA + n, outB, stA, stB, L, 0x7fffffff, 0x7fffffff);
    const dt = performance.now() - t;
    if ((u32[0x60008 >> 2] >>> 6) !== wantA || (u32[0x60018 >> 2] >>> 6) !== wantB) throw new Error(`L=${L}: decodeV2, wrong checksum`);
    return dt;
  };
  const t1 = [], t2 = [];
  for (let k = 0; k < 12; k++) {
    const a = runOne();
    if (k === 0) check(one.u8);
    const b = runTwo();
    if (k === 0) check(two.u8);
    if (k > 1) { t1.push(a); t2.push(b); }
  }
  const b1 = Math.min(...t1), b2 = Math.min(...t2);
  console.log(`| ${L} | ${(2 * n / b1 / 1e3).toFixed(0)} | ${(2 * n / b2 / 1e3).toFixed(0)} | ${(b1 / b2).toFixed(2)}× |`);
}
