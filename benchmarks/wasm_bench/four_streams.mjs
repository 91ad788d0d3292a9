// The loops alone: four independent rANS streams of L = 8 lanes (as four chunks of a tensor, spec
// section 7.2) decoded two by two by rans_pair.wat's decodeV2 (what engine.js did before rans_quad.wat)
// vs all four at once by rans_quad.wat's decodeV4 (four FxHash26 chains in the lanes of one vector,
// the ids taken from the vector of output bits). Same four streams (quarters of 2^22 entries drawn
// from a rounded normal of the given spread, P = 12 or 14), whole rows, 1-byte output, no staging;
// outputs, checksums and final states checked. Paired median: the median over rounds of the two
// loops' time ratio within a round (the rounds alternate which runs first).
// Usage: node benchmarks/wasm_bench/four_streams.mjs [rounds]   (default 21)
import { loadavg } from 'node:os';
import { RANS_WASM_BASE64, RANS_PAIR_WASM_BASE64, RANS_QUAD_WASM_BASE64 } from '../../jsdecoder/src/wasm/rans_wasm.js';
import { buildModel, ransEncode, fxhash26Ref, rng } from '../../jsdecoder/test/helpers/encoder.js';

const ROUNDS = Number(process.argv[2] ?? 21);
const mod = (b64) => new WebAssembly.Module(Buffer.from(b64, 'base64'));
const [mainMod, pairMod, quadMod] = [RANS_WASM_BASE64, RANS_PAIR_WASM_BASE64, RANS_QUAD_WASM_BASE64].map(mod);
const L = 8;
const CTL = [0x60000, 0x60010, 0x60020, 0x60030];
const ST = 0x60040; // the four streams' states, 32 bytes apart
const BIG = 0x7fffffff;
console.log(`node ${process.version}, load average ${loadavg()[0].toFixed(2)}; ${ROUNDS} interleaved rounds\n`);
console.log('| P | spread | decodeV2 twice, M/s (best) | decodeV4, M/s (best) | ratio of bests | paired median |\n|---:|---:|---:|---:|---:|---:|');
for (const [P, spread] of [[12, 8], [14, 2], [12, 30]]) {
  const n = Math.floor(2 ** 20 / L) * L; // per stream
  const r = rng(P * 100 + spread);
  const vals = new Int8Array(4 * n);
  for (let i = 0; i < 4 * n; i++) {
    const u = r() || 1e-9, v = r();
    vals[i] = Math.max(-128, Math.min(127, Math.round(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) * spread)));
  }
  const m = buildModel(Array.from(vals), P);
  const streams = [0, 1, 2, 3].map((k) => ransEncode(m.ids.slice(k * n, (k + 1) * n), m.freqs, m.cdf, P, L));
  const want = [0, 1, 2, 3].map((k) => fxhash26Ref(m.ids.slice(k * n, (k + 1) * n)));
  let at = ST + 4 * 32 + 64;
  const wordsAt = streams.map((s) => { const a = at; at = (at + 2 * s.words.length + 2 * (4096 + 16 + L) + 127) & ~63; return a; });
  const outAt = streams.map(() => { const a = at; at += n + 64; return a; });
  const inst = new WebAssembly.Instance(mainMod, {});
  const mem = inst.exports.mem;
  const pair = new WebAssembly.Instance(pairMod, { env: { mem } }).exports.decodeV2;
  const quad = new WebAssembly.Instance(quadMod, { env: { mem } }).exports.decodeV4;
  mem.grow(Math.ceil(at / 65536));
  const u16 = new Uint16Array(mem.buffer), u32 = new Uint32Array(mem.buffer), u8 = new Uint8Array(mem.buffer);
  for (let s = 0; s + 1 < m.cdf.length; s++) {
    for (let slot = m.cdf[s]; slot < m.cdf[s + 1]; slot++) u16.set([slot - m.cdf[s], m.cdf[s + 1] - m.cdf[s], m.vocab[s] & 0xff, s], 4 * slot);
  }
  streams.forEach((s, k) => u16.set(s.words, wordsAt[k] >> 1));
  const reset = () => {
    streams.forEach((s, k) => { u32.set(s.states, (ST + 32 * k) >> 2); u32.set([wordsAt[k], 0, 0], CTL[k] >> 2); });
    u8.fill(0, outAt[0], outAt[3] + n);
  };
  const check = (label, hashes) => {
    for (let k = 0; k < 4; k++) {
      if (hashes[k] !== want[k]) throw new Error(`${label}: stream ${k}, wrong checksum`);
      for (let i = 0; i < n; i++) if (((u8[outAt[k] + i] << 24) >> 24) !== vals[k * n + i]) throw new Error(`${label}: stream ${k}, wrong entry ${i}`);
      for (let j = 0; j < L; j++) if (u32[((ST + 32 * k) >> 2) + j] !== 0x10000) throw new Error(`${label}: stream ${k}, bad final state`);
    }
  };
  const hash = (k) => u32[(CTL[k] + 8) >> 2] >>> 6;
  const runPairs = (verify) => {
    reset();
    const t = performance.now();
    pair(P, 1, outAt[0], outAt[0] + n, outAt[1], ST, ST + 32, L, BIG, BIG);
    const h01 = [hash(0), hash(1)];
    u32.copyWithin(CTL[0] >> 2, CTL[2] >> 2, (CTL[2] >> 2) + 3); // streams C, D in the pair's CTL slots
    u32.copyWithin(CTL[1] >> 2, CTL[3] >> 2, (CTL[3] >> 2) + 3);
    pair(P, 1, outAt[2], outAt[2] + n, outAt[3], ST + 64, ST + 96, L, BIG, BIG);
    const dt = performance.now() - t;
    if (verify) check('decodeV2', [...h01, hash(0), hash(1)]);
    return dt;
  };
  const runQuad = (verify) => {
    reset();
    const t = performance.now();
    quad(P, 1, outAt[0], outAt[0] + n, outAt[1], outAt[2], outAt[3], ST, BIG, BIG, BIG, BIG);
    const dt = performance.now() - t;
    if (verify) check('decodeV4', [0, 1, 2, 3].map(hash));
    return dt;
  };
  runPairs(true);
  runQuad(true);
  const t2 = [], t4 = [];
  for (let k = 0; k < ROUNDS; k++) {
    if (k % 2) { t2.push(runPairs(false)); t4.push(runQuad(false)); } else { t4.push(runQuad(false)); t2.push(runPairs(false)); }
  }
  const b2 = Math.min(...t2), b4 = Math.min(...t4);
  const ratios = t2.map((x, i) => x / t4[i]).sort((a, b) => a - b);
  console.log(`| ${P} | ${spread} | ${(4 * n / b2 / 1e3).toFixed(0)} | ${(4 * n / b4 / 1e3).toFixed(0)} | ${(b2 / b4).toFixed(2)}× | ${ratios[ratios.length >> 1].toFixed(2)}× |`);
}
