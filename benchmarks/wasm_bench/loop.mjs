// The WebAssembly decode loops alone (no file parsing, no copies into the caller's array): the module
// of an older revision vs the working tree's, each called as its engine.js dispatches a lane count,
// on one P = 12 stream of randn * 8 int8 entries, in interleaved rounds (best of --repeats). Also
// times a loop of the FxHash26 step alone (spec section 11, the per-stream serial chain that caps any
// single-stream decoder). Usage:
//   node benchmarks/wasm_bench/loop.mjs [--old REV] [--lanes 4,8,16] [--repeats 11] [--n 4194304]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RANS_WASM_BASE64 } from '../../jsdecoder/src/wasm/rans_wasm.js';
import { buildModel, ransEncode, fxhash26Ref, rng } from '../../jsdecoder/test/helpers/encoder.js';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, x, i, all) => (x.startsWith('--') ? [...a, [x.slice(2), all[i + 1]]] : a), []));
const OLD = args.old ?? 'ecb9d0e';
const LANES = (args.lanes ?? '4,8,16').split(',').map(Number);
const R = Number(args.repeats ?? 11);
const N = Number(args.n ?? 2 ** 22);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function oldModuleBytes() {
  const src = execFileSync('git', ['-C', ROOT, 'show', `${OLD}:jsdecoder/src/wasm/rans_wasm.js`], { encoding: 'utf8' });
  const dir = mkdtempSync(join(tmpdir(), 'anspack-loop-'));
  try {
    writeFileSync(join(dir, 'm.mjs'), src);
    return Buffer.from((await import(pathToFileURL(join(dir, 'm.mjs')).href)).RANS_WASM_BASE64, 'base64');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// How each engine.js calls the loops for L lanes (whole rows here: N is a multiple of L).
function pick(exports, L, isNew) {
  if (L === 1 || L === 2 || L === 4 || L === 8) return exports[`decode${L}`];
  return isNew && L >= 5 ? exports.decodeV : exports.decodeN;
}

// The hash step of the loops alone, n times, built by wat2wasm from:
//   (module (func (export "hash") (param $n i32) (param $g5 i32) (param $g6 i32) (result i32) (local $a i32)
//     (loop $l
//       (local.set $a (i32.xor (i32.xor (local.get $g5) (local.get $n)) (i32.shr_u (local.get $g6) (i32.const 27))))
//       (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
//       (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
//       (local.set $n (i32.sub (local.get $n) (i32.const 1)))
//       (br_if $l (local.get $n)))
//     (i32.xor (local.get $g5) (local.get $g6))))
const HASH_WASM = Buffer.from(
  'AGFzbQEAAAABCAFgA39/fwF/AwIBAAcIAQRoYXNoAAAKPAE6AQF/A0AgASAAcyACQRt2cyEDIANBoKWFogZsIQEgA0HAyorEfGwhAiAAQQFrIQAgAA0ACyABIAJzCw==',
  'base64');

const r = rng(1);
const CTL = 0x60000, ST = 0x60040;
const lines = [];
const oldBytes = await oldModuleBytes();
const newBytes = Buffer.from(RANS_WASM_BASE64, 'base64');
for (const L of LANES) {
  const n = Math.floor(N / L) * L;
  const vals = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const u = r() || 1e-9, v = r();
    vals[i] = Math.max(-128, Math.min(127, Math.round(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) * 8)));
  }
  const P = 12;
  const m = buildModel(Array.from(vals), P);
  const { states, words } = ransEncode(m.ids, m.freqs, m.cdf, P, L);
  const want = fxhash26Ref(m.ids);
  const wordsAt = (ST + 4 * L + 7) & ~7, wlim = wordsAt + 2 * words.length;
  const stageAt = Math.ceil((wlim + 2 * (4096 + 16 + L)) / 8) * 8;
  const STAGE = Math.max(L, Math.floor(65536 / L) * L);
  const out = new Int8Array(n);
  const contenders = [['old ' + OLD, oldBytes, false], ['new', newBytes, true]].map(([label, bytes, isNew]) => {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    return { label, inst, fn: pick(inst.exports, L, isNew), times: [] };
  });
  const runOnce = (c) => {
    const mem = c.inst.exports.mem;
    const need = stageAt + STAGE + 64;
    if (mem.buffer.byteLength < need) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
    const u8 = new Uint8Array(mem.buffer), u16 = new Uint16Array(mem.buffer), u32 = new Uint32Array(mem.buffer);
    for (let s = 0; s + 1 < m.cdf.length; s++) {
      for (let slot = m.cdf[s]; slot < m.cdf[s + 1]; slot++) u16.set([slot - m.cdf[s], m.cdf[s + 1] - m.cdf[s], m.vocab[s] & 0xff, s], 4 * slot);
    }
    u32.set(states, ST >> 2);
    u16.set(words, wordsAt >> 1);
    u8.fill(0, wlim, wlim + 2 * (4096 + 16 + L));
    u32.set([wordsAt, 0, 0], CTL >> 2);
    const t0 = performance.now();
    for (let done = 0; done < n;) {
      const cnt = Math.min(STAGE, n - done);
      const reached = c.fn(P, 1, stageAt, stageAt + cnt, wlim, ST, L);
      out.set(new Int8Array(u8.buffer, stageAt, reached - stageAt), done);
      done += reached - stageAt;
    }
    const dt = performance.now() - t0;
    if (u32[CTL >> 2] !== wlim || (u32[(CTL >> 2) + 2] >>> 6) !== want || out.some((x, i) => x !== vals[i])) throw new Error(`${c.label} L=${L}: wrong result`);
    return dt;
  };
  const hash = new WebAssembly.Instance(new WebAssembly.Module(HASH_WASM), {}).exports.hash;
  const hashTimes = [];
  for (let round = 0; round <= R; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(k + round) % contenders.length];
      const dt = runOnce(c);
      if (round > 0) c.times.push(dt);
    }
    const t0 = performance.now();
    hash(n, 1, 2);
    if (round > 0) hashTimes.push(performance.now() - t0);
  }
  const rate = (t) => n / Math.min(...t) / 1e3;
  const [o, w] = contenders;
  lines.push(`| ${L} | ${rate(o.times).toFixed(0)} | ${rate(w.times).toFixed(0)} | ${(rate(w.times) / rate(o.times)).toFixed(2)}× | ${rate(hashTimes).toFixed(0)} |`);
}
console.log(`node ${process.version}, ${N} int8 entries (randn * 8, P = 12) per lane count, best of ${R} interleaved rounds, load average ${loadavg()[0].toFixed(2)}\n`);
console.log(`| L | old ${OLD} loop M/s | new loop M/s | new / old | FxHash26 chain alone M/s |\n|---:|---:|---:|---:|---:|\n${lines.join('\n')}`);
