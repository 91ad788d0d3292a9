// Prototype, not part of the decoder: two independent rANS streams decoded in one WebAssembly loop
// (a row of stream A, then a row of stream B, each with its own word cursor and FxHash26 chain), as
// the chunks of one tensor (spec section 7.2: independent streams sharing the model) could be. One
// stream's loop is capped by its serial FxHash26 chain (~500 M entries/s here); two chains run side
// by side. Compares, on the same two streams (the halves of 2^22 randn*8 int8 entries, P = 12), the
// committed module decoding them one after the other (decodeV for L >= 5, decode4 for L = 4) with
// the prototype loop decoding both at once (SIMD groups, L a multiple of 4, 1-byte output only).
// Needs wat2wasm (Debian: wabt). Usage: node benchmarks/wasm_bench/two_streams.mjs [L...]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { RANS_WASM_BASE64 } from '../../jsdecoder/src/wasm/rans_wasm.js';
import { buildModel, ransEncode, fxhash26Ref, rng } from '../../jsdecoder/test/helpers/encoder.js';

function group(X, S) {
  return `
      (local.set $I (i32x4.shl (v128.and (local.get ${X}) (local.get $MASKV)) (i32.const 3)))
      (local.set $e0 (i32x4.extract_lane 0 (local.get $I)))
      (local.set $e1 (i32x4.extract_lane 1 (local.get $I)))
      (local.set $e2 (i32x4.extract_lane 2 (local.get $I)))
      (local.set $e3 (i32x4.extract_lane 3 (local.get $I)))
      (local.set $T01 (v128.load64_lane 1 (local.get $e1) (v128.load64_zero (local.get $e0))))
      (local.set $T23 (v128.load64_lane 1 (local.get $e3) (v128.load64_zero (local.get $e2))))
      (local.set $BF (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $T01) (local.get $T23)))
      (local.set ${X} (i32x4.add (i32x4.mul (i32x4.shr_u (local.get ${X}) (local.get $P)) (i32x4.shr_u (local.get $BF) (i32.const 16)))
                               (v128.and (local.get $BF) (local.get $LO16))))
      (local.set $M (i32x4.eq (i32x4.shr_u (local.get ${X}) (i32.const 16)) (local.get $ZERO)))
      (local.set $b (i32x4.bitmask (local.get $M)))
      (local.set ${X} (i32x4.max_u (local.get ${X})
         (v128.or (i32x4.shl (v128.and (local.get ${X}) (local.get $M)) (i32.const 16))
                  (i8x16.swizzle (v128.load (local.get $wp${S})) (v128.load offset=0x40000 (i32.shl (local.get $b) (i32.const 4)))))))
      (local.set $wp${S} (i32.add (local.get $wp${S}) (i32.shl (i32.popcnt (local.get $b)) (i32.const 1))))
      (local.set $SV (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $T01) (local.get $T23)))
      (v128.store32_lane 0 (local.get $op${S}) (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0 (local.get $SV) (local.get $SV)))
      (local.set $op${S} (i32.add (local.get $op${S}) (i32.const 4)))
      ${[0, 1, 2, 3].map((j) => `
      (local.set $a (i32.xor (i32.xor (local.get $g5${S}) (i32.load16_u offset=6 (local.get $e${j}))) (i32.shr_u (local.get $g6${S}) (i32.const 27))))
      (local.set $g5${S} (i32.mul (local.get $a) (i32.const 0x644152A0)))
      (local.set $g6${S} (i32.mul (local.get $a) (i32.const 0xC882A540)))`).join('')}`;
}
const init = `
  (func $init (local $b i32) (local $j i32) (local $k i32) (local $p i32)
    (loop $bs
      (local.set $j (i32.const 0)) (local.set $k (i32.const 0))
      (loop $js
        (local.set $p (i32.add (i32.const 0x40000) (i32.add (i32.shl (local.get $b) (i32.const 4)) (i32.shl (local.get $j) (i32.const 2)))))
        (if (i32.and (i32.shr_u (local.get $b) (local.get $j)) (i32.const 1))
          (then (i32.store (local.get $p) (i32.or (i32.const 0x80800100) (i32.mul (local.get $k) (i32.const 0x0202))))
                (local.set $k (i32.add (local.get $k) (i32.const 1))))
          (else (i32.store (local.get $p) (i32.const 0x80808080))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $js (i32.lt_u (local.get $j) (i32.const 4))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $bs (i32.lt_u (local.get $b) (i32.const 16)))))
  (start $init)`;
// CTL A at 0x60000 (wp, g5, g6), CTL B at 0x60010; states A at stA, B at stB; sz = 1 only
const f = `
  (func (export "v2") (param $P i32) (param $opA i32) (param $oendA i32) (param $stA i32) (param $opB i32) (param $stB i32) (param $L i32) (result i32)
    (local $e0 i32) (local $e1 i32) (local $e2 i32) (local $e3 i32) (local $b i32) (local $a i32)
    (local $wpA i32) (local $g5A i32) (local $g6A i32) (local $wpB i32) (local $g5B i32) (local $g6B i32) (local $q i32) (local $qend i32)
    (local $I v128) (local $T01 v128) (local $T23 v128) (local $BF v128) (local $SV v128) (local $M v128)
    (local $MASKV v128) (local $LO16 v128) (local $ZERO v128) (local $X v128)
    (local.set $MASKV (i32x4.splat (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1))))
    (local.set $LO16 (v128.const i32x4 0xFFFF 0xFFFF 0xFFFF 0xFFFF))
    (local.set $wpA (i32.load (i32.const 0x60000))) (local.set $g5A (i32.load (i32.const 0x60004))) (local.set $g6A (i32.load (i32.const 0x60008)))
    (local.set $wpB (i32.load (i32.const 0x60010))) (local.set $g5B (i32.load (i32.const 0x60014))) (local.set $g6B (i32.load (i32.const 0x60018)))
    (local.set $qend (i32.shl (local.get $L) (i32.const 2)))
    (block $stop (loop $rows
      (br_if $stop (i32.ge_u (local.get $opA) (local.get $oendA)))
      (local.set $q (i32.const 0))
      (loop $groups
        (local.set $X (v128.load (i32.add (local.get $stA) (local.get $q))))
        ${group('$X', 'A')}
        (v128.store (i32.add (local.get $stA) (local.get $q)) (local.get $X))
        (local.set $X (v128.load (i32.add (local.get $stB) (local.get $q))))
        ${group('$X', 'B')}
        (v128.store (i32.add (local.get $stB) (local.get $q)) (local.get $X))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br_if $groups (i32.lt_u (local.get $q) (local.get $qend))))
      (br $rows)))
    (i32.store (i32.const 0x60000) (local.get $wpA)) (i32.store (i32.const 0x60004) (local.get $g5A)) (i32.store (i32.const 0x60008) (local.get $g6A))
    (i32.store (i32.const 0x60010) (local.get $wpB)) (i32.store (i32.const 0x60014) (local.get $g5B)) (i32.store (i32.const 0x60018) (local.get $g6B))
    (local.get $opA))`;

function build(wat) {
  const dir = mkdtempSync(join(tmpdir(), 'anspack-2s-'));
  try {
    writeFileSync(join(dir, 'p.wat'), wat);
    execFileSync('wat2wasm', [join(dir, 'p.wat'), '-o', join(dir, 'p.wasm')]);
    return readFileSync(join(dir, 'p.wasm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const protoBytes = build(`(module (memory (export "mem") 7) ${init} ${f})`);
const mainBytes = Buffer.from(RANS_WASM_BASE64, 'base64');
console.log(`node ${process.version}, load average ${loadavg()[0].toFixed(2)}; best of 10 interleaved rounds\n`);
console.log('| L | committed loops, one stream after the other, M/s | prototype, both streams in one loop, M/s | ratio |\n|---:|---:|---:|---:|');
for (const L of (process.argv.length > 2 ? process.argv.slice(2).map(Number) : [4, 8, 16])) {
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
  const mk = (bytes) => {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    const mem = inst.exports.mem;
    mem.grow(Math.ceil((outB + n + 64) / 65536));
    const u16 = new Uint16Array(mem.buffer);
    for (let s = 0; s + 1 < m.cdf.length; s++) {
      for (let slot = m.cdf[s]; slot < m.cdf[s + 1]; slot++) u16.set([slot - m.cdf[s], m.cdf[s + 1] - m.cdf[s], m.vocab[s] & 0xff, s], 4 * slot);
    }
    u16.set(sA.words, wA >> 1);
    u16.set(sB.words, wB >> 1);
    return { e: inst.exports, u32: new Uint32Array(mem.buffer), u8: new Uint8Array(mem.buffer) };
  };
  const one = mk(mainBytes), two = mk(protoBytes);
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
    const { e, u32 } = two;
    u32.set(sA.states, stA >> 2);
    u32.set(sB.states, stB >> 2);
    u32.set([wA, 0, 0], 0x60000 >> 2);
    u32.set([wB, 0, 0], 0x60010 >> 2);
    const t = performance.now();
    e.v2(P, outA, outA + n, stA, outB, stB, L);
    const dt = performance.now() - t;
    if ((u32[0x60008 >> 2] >>> 6) !== wantA || (u32[0x60018 >> 2] >>> 6) !== wantB) throw new Error(`L=${L}: prototype, wrong checksum`);
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
