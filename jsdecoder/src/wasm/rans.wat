;; anspack: the interleaved rANS decode loop (spec/FORMAT.md sections 10 and 11) in WebAssembly.
;;
;; Hand-written; build with `node jsdecoder/scripts/build-wasm.mjs` (runs wat2wasm from Debian's
;; `wabt` package and writes src/wasm/rans_wasm.js, the module's bytes as base64, which is committed).
;; src/wasm/engine.js drives it; src/reference.js is the readable decoder it is tested against.
;;
;; Notation as in the spec: x is a lane state in I = [2^16, 2^32), f[s] and c[s] = cdf[s] the
;; frequency and start of symbol s, M = 2^P. Decoding one entry of lane j:
;;     slot = x & (M - 1);  s = the symbol owning slot
;;     x = f[s] * (x >> P) + slot - c[s]
;;     if x < 2^16: x = (x << 16) | words[k]; k = k + 1
;;     out[i] = values[s];  h = FxHash26 step of s (section 11)
;;
;; Linear memory layout (byte addresses; the JS driver places the variable parts):
;;     0x00000  slot table, 8 bytes per slot (2^P <= 2^15 slots, at most 256 KiB):
;;                +0 u16 slot - c[s]   +2 u16 f[s]   +4 u16 value bits   +6 u16 s
;;              so that the i32 at +4 is (s << 16 | value bits): the output and the id in one load
;;              (4-byte dtypes: the value bits are s, and the driver maps the ids to values)
;;     0x40000  REFILL: 16 x 16 bytes of swizzle indices for the SIMD refill (built by the start
;;              function $init at instantiation; see decodeV)
;;     0x60000  CTL: +0 wp (byte address of words[k]), +4 g5, +8 g6 (the hash, below)
;;     st       the L lane states, u32 each (the driver puts them at 0x60040)
;;     words    the W words, then zeros: at least 4096 + L padding words, so that a corrupt stream
;;              that under-runs reads zeros until the next check notices k > W (wp > wlim)
;;     out      the output (a staging area): each entry's (s << 16 | value bits) stored with
;;              i32.store at a stride of sz = 1 or 2 bytes in increasing address order, so each
;;              store's extra high bytes are overwritten by the next; the SIMD loop stores 8 bytes
;;              per group of four entries (4 * sz of them its output): 4 spare bytes at the end
;;              (engine.js leaves 8)
;;
;; The FxHash26 chain. The spec's step is  h = rot26(h) ^ s;  h = (h * 0x03220A95) & 0x3FFFFFF  with
;; rot26(h) = ((h & 0x1FFFFF) << 5) | (h >> 21). The chain (each h needs the previous one) is the
;; loop's longest latency once several lanes decode in parallel, so it is kept short: with
;; a = rot26(h) ^ s (only its low 26 bits matter), the loop keeps two products of a,
;;     g5 = a * (0x03220A95 << 5) mod 2^32   (= h << 5 with junk above bit 25: rot26's first part)
;;     g6 = a * (0x03220A95 << 6) mod 2^32   (= h << 6 exactly: the low 26 bits of h in bits 6..31)
;; and the next a is  (g5 ^ s) ^ (g6 >>> 27)  (g6 >>> 27 = bits 21..25 of h, rot26's second part).
;; The two multiplies run side by side, so one step is mul, shift, xor = 5 cycles instead of 7, and
;; no mask is needed: h = g6 >>> 6 at the end. (0x03220A95 << 5 = 0x644152A0, << 6 = 0xC882A540.)
;;
;; The refill is a select, not a branch: it is taken about every third entry, unpredictably.
;;
;; Under-run: each entry reads at most one word, so the loops check wp > wlim (k > W) only once per
;; block of 4096 entries (once per row in decodeN and decodeV) and return early; the padding words cover
;; what a block can read past the end (the SIMD loop loads 16 bytes at wp: 8 words, within the
;; padding too). Final states and k = W are checked by the driver.
;;
;; Exports (all return the output address reached; op advances by sz per entry):
;;     decode1 / decode2 / decode4 (P, sz, op, oend, wlim, st): whole rows of L = 1, 2, 4 lanes,
;;         states in locals; (oend - op) / sz must be a multiple of L (of 2 for decode1)
;;     decodeV (P, sz, op, oend, wlim, st, L): any L >= 4, whole rows, with WebAssembly SIMD (four
;;         lanes per v128, states in memory); decode8 (P, sz, op, oend, wlim, st) is decodeV, L = 8
;;     decodeN (P, sz, op, oend, wlim, st, L): any L, whole rows and a partial last row, states in
;;         memory, four lanes at a time
;;     table (V, cdfAt, valsAt, ids): writes the slot table at 0 from a CDF and the values' bits
;; The driver uses decode1/2/4 for L = 1, 2, 4, decodeV for L >= 5, decodeN for L = 3 and for a
;; partial last row. Two chunks of a tensor (spec section 7.2) with L a multiple of 4 are decoded
;; together, the rows both have by decodeV2 of rans_pair.wat (a second module, 3.1 KB, that imports
;; this module's memory and uses its slot and REFILL tables; CTL of the second stream at 0x60010),
;; four chunks with L = 8 by decodeV4 of rans_quad.wat (a third, 3.3 KB; CTLs at 0x60010, 0x60020,
;; 0x60030), the rest of each stream by the loops here.
;;
;; The module (3.3 KB, below the 4 KB up to which browsers compile synchronously on the main thread)
;; uses fixed-width WebAssembly SIMD (128-bit; every current browser, node >= 16.4): where it is
;; missing the module does not compile and engine 'auto' falls back to the pure-JS loops.
;; Speed (node 20, this 2-core AMD EPYC VM, 4M int8 randn*8 entries, P = 12, the loop alone): the
;; FxHash26 chain alone runs at ~500 M entries/s, decodeV at ~445 (L = 8) and ~475 (L = 16 and 32;
;; ~290-310 in some runs with the per-group branch on sz it had up to 59b99ec; loop.mjs), the
;; scalar decode8 it replaced at ~330, decode4 at ~330; decodeV with L = 4 (one group per row, a
;; ~35-cycle dependent chain) only at ~280, so L = 4 keeps the scalar loop. Two streams in one loop
;; (rans_pair.wat, two FxHash26 chains side by side): ~540-590 M entries/s for L = 8 and up.
(module
  (memory (export "mem") 7)

  ;; L = 1: an even number of entries (two per iteration), the lane state in a local.
  (func (export "decode1") (param $P i32) (param $sz i32) (param $op i32) (param $oend i32)
        (param $wlim i32) (param $st i32) (result i32)
    (local $mask i32) (local $e i32) (local $sv i32) (local $r i32) (local $a i32)
    (local $wp i32) (local $g5 i32) (local $g6 i32) (local $bend i32)
    (local $x0 i32)
    (local.set $mask (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1)))
    (local.set $wp (i32.load (i32.const 0x60000)))
    (local.set $g5 (i32.load (i32.const 0x60004)))
    (local.set $g6 (i32.load (i32.const 0x60008)))
    (local.set $x0 (i32.load offset=0 (local.get $st)))
    (block $stop
      (loop $blocks
        (br_if $stop (i32.ge_u (local.get $op) (local.get $oend)))
        ;; a block: at most 4096 entries (a whole number of rows), then the under-run check
        (local.set $bend (local.get $oend))
        (if (i32.gt_u (i32.sub (local.get $oend) (local.get $op)) (i32.shl (local.get $sz) (i32.const 12)))
          (then (local.set $bend (i32.add (local.get $op) (i32.shl (local.get $sz) (i32.const 12))))))
        (loop $rows
          ;; lane 0: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x0) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x0 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x0) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x0) (i32.const 0x10000)))
          (local.set $x0 (select (i32.or (i32.shl (local.get $x0) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x0) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          ;; lane 0 again (the next row): two rows per iteration halve the loop overhead of this
          ;; latency-bound loop
          (local.set $e (i32.shl (i32.and (local.get $x0) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x0 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x0) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x0) (i32.const 0x10000)))
          (local.set $x0 (select (i32.or (i32.shl (local.get $x0) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x0) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (br_if $rows (i32.lt_u (local.get $op) (local.get $bend))))
        ;; stop early on an under-run (k > W), else go on with the next block
        (br_if $blocks (i32.le_u (local.get $wp) (local.get $wlim)))))
    (i32.store (i32.const 0x60000) (local.get $wp))
    (i32.store (i32.const 0x60004) (local.get $g5))
    (i32.store (i32.const 0x60008) (local.get $g6))
    (i32.store offset=0 (local.get $st) (local.get $x0))
    (local.get $op))

  ;; L = 2: whole rows of 2 entries, the lane states in locals.
  (func (export "decode2") (param $P i32) (param $sz i32) (param $op i32) (param $oend i32)
        (param $wlim i32) (param $st i32) (result i32)
    (local $mask i32) (local $e i32) (local $sv i32) (local $r i32) (local $a i32)
    (local $wp i32) (local $g5 i32) (local $g6 i32) (local $bend i32)
    (local $x0 i32) (local $x1 i32)
    (local.set $mask (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1)))
    (local.set $wp (i32.load (i32.const 0x60000)))
    (local.set $g5 (i32.load (i32.const 0x60004)))
    (local.set $g6 (i32.load (i32.const 0x60008)))
    (local.set $x0 (i32.load offset=0 (local.get $st)))
    (local.set $x1 (i32.load offset=4 (local.get $st)))
    (block $stop
      (loop $blocks
        (br_if $stop (i32.ge_u (local.get $op) (local.get $oend)))
        ;; a block: at most 4096 entries (a whole number of rows), then the under-run check
        (local.set $bend (local.get $oend))
        (if (i32.gt_u (i32.sub (local.get $oend) (local.get $op)) (i32.shl (local.get $sz) (i32.const 12)))
          (then (local.set $bend (i32.add (local.get $op) (i32.shl (local.get $sz) (i32.const 12))))))
        (loop $rows
          ;; lane 0: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x0) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x0 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x0) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x0) (i32.const 0x10000)))
          (local.set $x0 (select (i32.or (i32.shl (local.get $x0) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x0) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          ;; lane 1: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x1) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x1 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x1) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x1) (i32.const 0x10000)))
          (local.set $x1 (select (i32.or (i32.shl (local.get $x1) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x1) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (br_if $rows (i32.lt_u (local.get $op) (local.get $bend))))
        ;; stop early on an under-run (k > W), else go on with the next block
        (br_if $blocks (i32.le_u (local.get $wp) (local.get $wlim)))))
    (i32.store (i32.const 0x60000) (local.get $wp))
    (i32.store (i32.const 0x60004) (local.get $g5))
    (i32.store (i32.const 0x60008) (local.get $g6))
    (i32.store offset=0 (local.get $st) (local.get $x0))
    (i32.store offset=4 (local.get $st) (local.get $x1))
    (local.get $op))

  ;; L = 4: whole rows of 4 entries, the lane states in locals. The hash keeps g6 only: g5 = g6 >>> 1
  ;; up to bit 31, which does not matter (a's bits above 25 never reach h), so a = (g6 >>> 1) ^ s ^
  ;; (g6 >>> 27) and one multiply per entry; the chain is as long (shift, xor, mul). Same speed in
  ;; node 20, ~14% faster in Chromium 156 (fewer live registers). On exit g5 is stored as g6 >>> 1.
  (func (export "decode4") (param $P i32) (param $sz i32) (param $op i32) (param $oend i32)
        (param $wlim i32) (param $st i32) (result i32)
    (local $mask i32) (local $e i32) (local $sv i32) (local $r i32)
    (local $wp i32) (local $g6 i32) (local $bend i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local.set $mask (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1)))
    (local.set $wp (i32.load (i32.const 0x60000)))
    (local.set $g6 (i32.load (i32.const 0x60008)))
    (local.set $x0 (i32.load offset=0 (local.get $st)))
    (local.set $x1 (i32.load offset=4 (local.get $st)))
    (local.set $x2 (i32.load offset=8 (local.get $st)))
    (local.set $x3 (i32.load offset=12 (local.get $st)))
    (block $stop
      (loop $blocks
        (br_if $stop (i32.ge_u (local.get $op) (local.get $oend)))
        ;; a block: at most 4096 entries (a whole number of rows), then the under-run check
        (local.set $bend (local.get $oend))
        (if (i32.gt_u (i32.sub (local.get $oend) (local.get $op)) (i32.shl (local.get $sz) (i32.const 12)))
          (then (local.set $bend (i32.add (local.get $op) (i32.shl (local.get $sz) (i32.const 12))))))
        (loop $rows
          ;; lane 0: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x0) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x0 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x0) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x0) (i32.const 0x10000)))
          (local.set $x0 (select (i32.or (i32.shl (local.get $x0) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x0) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $g6 (i32.mul (i32.xor (i32.xor (i32.shr_u (local.get $g6) (i32.const 1)) (i32.shr_u (local.get $sv) (i32.const 16)))
                                           (i32.shr_u (local.get $g6) (i32.const 27))) (i32.const 0xC882A540)))
          ;; lane 1: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x1) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x1 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x1) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x1) (i32.const 0x10000)))
          (local.set $x1 (select (i32.or (i32.shl (local.get $x1) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x1) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $g6 (i32.mul (i32.xor (i32.xor (i32.shr_u (local.get $g6) (i32.const 1)) (i32.shr_u (local.get $sv) (i32.const 16)))
                                           (i32.shr_u (local.get $g6) (i32.const 27))) (i32.const 0xC882A540)))
          ;; lane 2: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x2) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x2 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x2) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x2) (i32.const 0x10000)))
          (local.set $x2 (select (i32.or (i32.shl (local.get $x2) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x2) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $g6 (i32.mul (i32.xor (i32.xor (i32.shr_u (local.get $g6) (i32.const 1)) (i32.shr_u (local.get $sv) (i32.const 16)))
                                           (i32.shr_u (local.get $g6) (i32.const 27))) (i32.const 0xC882A540)))
          ;; lane 3: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x3) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x3 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x3) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x3) (i32.const 0x10000)))
          (local.set $x3 (select (i32.or (i32.shl (local.get $x3) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x3) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $g6 (i32.mul (i32.xor (i32.xor (i32.shr_u (local.get $g6) (i32.const 1)) (i32.shr_u (local.get $sv) (i32.const 16)))
                                           (i32.shr_u (local.get $g6) (i32.const 27))) (i32.const 0xC882A540)))
          (br_if $rows (i32.lt_u (local.get $op) (local.get $bend))))
        ;; stop early on an under-run (k > W), else go on with the next block
        (br_if $blocks (i32.le_u (local.get $wp) (local.get $wlim)))))
    (i32.store (i32.const 0x60000) (local.get $wp))
    (i32.store (i32.const 0x60004) (i32.shr_u (local.get $g6) (i32.const 1)))
    (i32.store (i32.const 0x60008) (local.get $g6))
    (i32.store offset=0 (local.get $st) (local.get $x0))
    (i32.store offset=4 (local.get $st) (local.get $x1))
    (i32.store offset=8 (local.get $st) (local.get $x2))
    (i32.store offset=12 (local.get $st) (local.get $x3))
    (local.get $op))

  ;; ---------------------------------------------------------------------------------------------
  ;; SIMD: four lanes per v128 (i32x4 lane states), for L >= 8.
  ;;
  ;; One group of four lanes j..j+3 of a row (X = their states, loaded from and stored back to st):
  ;;     I = (X & mask) << 3                       the four slot-table addresses, taken out as
  ;;     e0..e3 = lanes of I                       scalars for four 8-byte loads (no gather in wasm):
  ;;     T01 = [entry e0 | entry e1], T23 = [entry e2 | entry e3]   (i64 loads into two halves)
  ;;     BF = the four (slot - c | f << 16) words, SV = the four (value bits | s << 16) words
  ;;     X = (X >> P) * f + (slot - c)             i32x4: D(x) of the four lanes at once
  ;;     m = lanes with X < 2^16 (as (X >> 16) == 0), b = their 4-bit mask
  ;;     X = max_u(X, ((X & m) << 16) | swizzle(16 bytes at wp, REFILL[b]))
  ;;     wp += 2 * popcnt(b)
  ;; REFILL[b] (built by $init) gives each lane of b the next word, in lane order, as the spec's
  ;; lane-by-lane loop reads them: lane j gets words[k + (number of lanes of b below j)] in its low
  ;; half, zeros above; lanes not in b get 0. For a refilled lane X < 2^16, so the candidate
  ;; X << 16 | word is >= 2^17 > X; for the others the candidate is 0 (X & m = 0): max_u picks the
  ;; right state without a blend. The output (value bits of the four entries: byte 0 or bytes 0..1
  ;; of each SV lane) is packed by one swizzle (its mask chosen by sz before the loop) into one
  ;; 8-byte store. The FxHash26 chain then takes s of the four entries in lane order, loaded from
  ;; the slot table (+6).
  ;;
  ;; A row of 4 lanes is one dependent chain (~35 cycles: extract, loads, mul, refill), longer than
  ;; four scalar lanes, so L = 1, 2, 4 keep the scalar loops; with L >= 8 the groups of a row overlap
  ;; and the loop runs at about the FxHash26 chain's speed. Lanes past the last whole group (L mod 4)
  ;; are decoded one at a time after the groups, in lane order.

  ;; REFILL table at 0x40000: 16 entries of 16 bytes (swizzle indices; 0x80 = zero byte).
  (func $init (local $b i32) (local $j i32) (local $k i32) (local $p i32)
    (loop $masks
      (local.set $j (i32.const 0))
      (local.set $k (i32.const 0))
      (loop $lanes
        (local.set $p (i32.add (i32.const 0x40000)
                               (i32.add (i32.shl (local.get $b) (i32.const 4)) (i32.shl (local.get $j) (i32.const 2)))))
        (if (i32.and (i32.shr_u (local.get $b) (local.get $j)) (i32.const 1))
          (then
            ;; bytes 2k, 2k+1 of the loaded words, then two zero bytes
            (i32.store (local.get $p) (i32.or (i32.const 0x80800100) (i32.mul (local.get $k) (i32.const 0x0202))))
            (local.set $k (i32.add (local.get $k) (i32.const 1))))
          (else (i32.store (local.get $p) (i32.const 0x80808080))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $lanes (i32.lt_u (local.get $j) (i32.const 4))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $masks (i32.lt_u (local.get $b) (i32.const 16)))))
  (start $init)

  ;; L = 8: decodeV with L = 8 (the export engine.js calls for L = 8).
  (func (export "decode8") (param $P i32) (param $sz i32) (param $op i32) (param $oend i32)
        (param $wlim i32) (param $st i32) (result i32)
    (call $decodeV (local.get $P) (local.get $sz) (local.get $op) (local.get $oend) (local.get $wlim)
                   (local.get $st) (i32.const 8)))

  ;; Any L >= 4: whole rows (oend - op a multiple of L * sz), groups of four lanes with SIMD, then
  ;; the L mod 4 last lanes one at a time. The under-run check is made once per row.
  (func $decodeV (export "decodeV") (param $P i32) (param $sz i32) (param $op i32) (param $oend i32)
        (param $wlim i32) (param $st i32) (param $L i32) (result i32)
    (local $mask i32) (local $e i32) (local $sv i32) (local $r i32) (local $a i32)
    (local $wp i32) (local $g5 i32) (local $g6 i32) (local $q i32) (local $gend i32) (local $qend i32)
    (local $x0 i32) (local $e0 i32) (local $e1 i32) (local $e2 i32) (local $e3 i32) (local $b i32)
    (local $X v128) (local $I v128) (local $T01 v128) (local $T23 v128) (local $BF v128) (local $M v128)
    (local $SV v128) (local $MASKV v128) (local $LO16 v128) (local $ZERO v128) (local $OUTS v128)
    (local.set $mask (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1)))
    (local.set $MASKV (i32x4.splat (local.get $mask)))
    (local.set $LO16 (v128.const i32x4 0xFFFF 0xFFFF 0xFFFF 0xFFFF))
    (local.set $ZERO (v128.const i32x4 0 0 0 0))
    ;; the output bytes of a group's SV: byte 0 (sz = 1) or bytes 0..1 (sz = 2) of each lane; chosen
    ;; once here rather than by a branch per group (which cost ~10% at L = 8 and 16)
    (local.set $OUTS (select (v128.const i8x16 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0)
                             (v128.const i8x16 0 1 4 5 8 9 12 13 0 0 0 0 0 0 0 0)
                             (i32.eq (local.get $sz) (i32.const 1))))
    (local.set $wp (i32.load (i32.const 0x60000)))
    (local.set $g5 (i32.load (i32.const 0x60004)))
    (local.set $g6 (i32.load (i32.const 0x60008)))
    (local.set $gend (i32.add (local.get $st) (i32.shl (i32.shr_u (local.get $L) (i32.const 2)) (i32.const 4))))
    (local.set $qend (i32.add (local.get $st) (i32.shl (local.get $L) (i32.const 2))))
    (block $stop
      (loop $row
        (br_if $stop (i32.ge_u (local.get $op) (local.get $oend)))
        (local.set $q (local.get $st))
        (loop $groups
          (local.set $X (v128.load (local.get $q)))
          ;; the four slot-table entries
          (local.set $I (i32x4.shl (v128.and (local.get $X) (local.get $MASKV)) (i32.const 3)))
          (local.set $e0 (i32x4.extract_lane 0 (local.get $I)))
          (local.set $e1 (i32x4.extract_lane 1 (local.get $I)))
          (local.set $e2 (i32x4.extract_lane 2 (local.get $I)))
          (local.set $e3 (i32x4.extract_lane 3 (local.get $I)))
          (local.set $T01 (v128.load64_lane 1 (local.get $e1) (v128.load64_zero (local.get $e0))))
          (local.set $T23 (v128.load64_lane 1 (local.get $e3) (v128.load64_zero (local.get $e2))))
          (local.set $BF (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $T01) (local.get $T23)))
          ;; x = f * (x >> P) + slot - c
          (local.set $X (i32x4.add (i32x4.mul (i32x4.shr_u (local.get $X) (local.get $P))
                                              (i32x4.shr_u (local.get $BF) (i32.const 16)))
                                   (v128.and (local.get $BF) (local.get $LO16))))
          ;; refill the lanes below 2^16 from the next words, in lane order
          (local.set $M (i32x4.eq (i32x4.shr_u (local.get $X) (i32.const 16)) (local.get $ZERO)))
          (local.set $b (i32x4.bitmask (local.get $M)))
          (local.set $X (i32x4.max_u (local.get $X)
            (v128.or (i32x4.shl (v128.and (local.get $X) (local.get $M)) (i32.const 16))
                     (i8x16.swizzle (v128.load (local.get $wp))
                                    (v128.load offset=0x40000 (i32.shl (local.get $b) (i32.const 4)))))))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (i32.popcnt (local.get $b)) (i32.const 1))))
          (v128.store (local.get $q) (local.get $X))
          ;; out: the value bits of the four entries in one 8-byte store (sz = 1: the 4 bytes past
          ;; them are overwritten next, as the scalar loops' i32 stores)
          (local.set $SV (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $T01) (local.get $T23)))
          (v128.store64_lane 0 (local.get $op) (i8x16.swizzle (local.get $SV) (local.get $OUTS)))
          (local.set $op (i32.add (local.get $op) (i32.shl (local.get $sz) (i32.const 2))))
          ;; FxHash26 of s, lane by lane
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.load16_u offset=6 (local.get $e0))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.load16_u offset=6 (local.get $e1))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.load16_u offset=6 (local.get $e2))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.load16_u offset=6 (local.get $e3))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $q (i32.add (local.get $q) (i32.const 16)))
          (br_if $groups (i32.lt_u (local.get $q) (local.get $gend))))
        ;; the last L mod 4 lanes of the row, one at a time
        (block $ones_done
          (loop $ones
            (br_if $ones_done (i32.ge_u (local.get $q) (local.get $qend)))
            (local.set $x0 (i32.load (local.get $q)))
            (local.set $e (i32.shl (i32.and (local.get $x0) (local.get $mask)) (i32.const 3)))
            (local.set $sv (i32.load offset=4 (local.get $e)))
            (local.set $x0 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x0) (local.get $P)))
                                  (i32.load16_u (local.get $e))))
            (local.set $r (i32.lt_u (local.get $x0) (i32.const 0x10000)))
            (local.set $x0 (select (i32.or (i32.shl (local.get $x0) (i32.const 16)) (i32.load16_u (local.get $wp)))
                                 (local.get $x0) (local.get $r)))
            (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
            (i32.store (local.get $op) (local.get $sv))
            (local.set $op (i32.add (local.get $op) (local.get $sz)))
            (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
            (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
            (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
            (i32.store (local.get $q) (local.get $x0))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $ones)))
        ;; stop early on an under-run (k > W), else the next row
        (br_if $row (i32.le_u (local.get $wp) (local.get $wlim)))))
    (i32.store (i32.const 0x60000) (local.get $wp))
    (i32.store (i32.const 0x60004) (local.get $g5))
    (i32.store (i32.const 0x60008) (local.get $g6))
    (local.get $op))

  ;; Any L: entries from op (the first lane of a row) to oend, row by row; in each row four lanes at
  ;; a time (their states loaded into locals and stored back), then one at a time; the last row may
  ;; be partial. The under-run check is made once per row.
  (func (export "decodeN") (param $P i32) (param $sz i32) (param $op i32) (param $oend i32)
        (param $wlim i32) (param $st i32) (param $L i32) (result i32)
    (local $mask i32) (local $e i32) (local $sv i32) (local $r i32) (local $a i32)
    (local $wp i32) (local $g5 i32) (local $g6 i32) (local $q i32) (local $qend i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local.set $mask (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1)))
    (local.set $wp (i32.load (i32.const 0x60000)))
    (local.set $g5 (i32.load (i32.const 0x60004)))
    (local.set $g6 (i32.load (i32.const 0x60008)))
    (local.set $qend (i32.add (local.get $st) (i32.shl (local.get $L) (i32.const 2))))
    (block $stop
      (loop $row
        (br_if $stop (i32.ge_u (local.get $op) (local.get $oend)))
        (local.set $q (local.get $st))
        ;; four lanes at a time, while four more lanes remain in the row and in the output
        (block $fours_done
          (loop $fours
            (br_if $fours_done (i32.gt_u (i32.add (local.get $q) (i32.const 16)) (local.get $qend)))
            (br_if $fours_done (i32.gt_u (i32.add (local.get $op) (i32.shl (local.get $sz) (i32.const 2)))
                                         (local.get $oend)))
            (local.set $x0 (i32.load offset=0 (local.get $q)))
            (local.set $x1 (i32.load offset=4 (local.get $q)))
            (local.set $x2 (i32.load offset=8 (local.get $q)))
            (local.set $x3 (i32.load offset=12 (local.get $q)))
            ;; lane 0: s, x = D(x) from the slot table
            (local.set $e (i32.shl (i32.and (local.get $x0) (local.get $mask)) (i32.const 3)))
            (local.set $sv (i32.load offset=4 (local.get $e)))
            (local.set $x0 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x0) (local.get $P)))
                                  (i32.load16_u (local.get $e))))
            ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
            (local.set $r (i32.lt_u (local.get $x0) (i32.const 0x10000)))
            (local.set $x0 (select (i32.or (i32.shl (local.get $x0) (i32.const 16)) (i32.load16_u (local.get $wp)))
                                 (local.get $x0) (local.get $r)))
            (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
            ;; out: value bits (and junk above, overwritten next); FxHash26 of s
            (i32.store (local.get $op) (local.get $sv))
            (local.set $op (i32.add (local.get $op) (local.get $sz)))
            (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
            (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
            (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
            ;; lane 1: s, x = D(x) from the slot table
            (local.set $e (i32.shl (i32.and (local.get $x1) (local.get $mask)) (i32.const 3)))
            (local.set $sv (i32.load offset=4 (local.get $e)))
            (local.set $x1 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x1) (local.get $P)))
                                  (i32.load16_u (local.get $e))))
            ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
            (local.set $r (i32.lt_u (local.get $x1) (i32.const 0x10000)))
            (local.set $x1 (select (i32.or (i32.shl (local.get $x1) (i32.const 16)) (i32.load16_u (local.get $wp)))
                                 (local.get $x1) (local.get $r)))
            (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
            ;; out: value bits (and junk above, overwritten next); FxHash26 of s
            (i32.store (local.get $op) (local.get $sv))
            (local.set $op (i32.add (local.get $op) (local.get $sz)))
            (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
            (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
            (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
            ;; lane 2: s, x = D(x) from the slot table
            (local.set $e (i32.shl (i32.and (local.get $x2) (local.get $mask)) (i32.const 3)))
            (local.set $sv (i32.load offset=4 (local.get $e)))
            (local.set $x2 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x2) (local.get $P)))
                                  (i32.load16_u (local.get $e))))
            ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
            (local.set $r (i32.lt_u (local.get $x2) (i32.const 0x10000)))
            (local.set $x2 (select (i32.or (i32.shl (local.get $x2) (i32.const 16)) (i32.load16_u (local.get $wp)))
                                 (local.get $x2) (local.get $r)))
            (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
            ;; out: value bits (and junk above, overwritten next); FxHash26 of s
            (i32.store (local.get $op) (local.get $sv))
            (local.set $op (i32.add (local.get $op) (local.get $sz)))
            (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
            (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
            (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
            ;; lane 3: s, x = D(x) from the slot table
            (local.set $e (i32.shl (i32.and (local.get $x3) (local.get $mask)) (i32.const 3)))
            (local.set $sv (i32.load offset=4 (local.get $e)))
            (local.set $x3 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x3) (local.get $P)))
                                  (i32.load16_u (local.get $e))))
            ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
            (local.set $r (i32.lt_u (local.get $x3) (i32.const 0x10000)))
            (local.set $x3 (select (i32.or (i32.shl (local.get $x3) (i32.const 16)) (i32.load16_u (local.get $wp)))
                                 (local.get $x3) (local.get $r)))
            (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
            ;; out: value bits (and junk above, overwritten next); FxHash26 of s
            (i32.store (local.get $op) (local.get $sv))
            (local.set $op (i32.add (local.get $op) (local.get $sz)))
            (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
            (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
            (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
            (i32.store offset=0 (local.get $q) (local.get $x0))
            (i32.store offset=4 (local.get $q) (local.get $x1))
            (i32.store offset=8 (local.get $q) (local.get $x2))
            (i32.store offset=12 (local.get $q) (local.get $x3))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $fours)))
        ;; the remaining lanes of the row, one at a time
        (block $ones_done
          (loop $ones
            (br_if $ones_done (i32.ge_u (local.get $q) (local.get $qend)))
            (br_if $ones_done (i32.ge_u (local.get $op) (local.get $oend)))
            (local.set $x0 (i32.load (local.get $q)))
            ;; lane 0: s, x = D(x) from the slot table
            (local.set $e (i32.shl (i32.and (local.get $x0) (local.get $mask)) (i32.const 3)))
            (local.set $sv (i32.load offset=4 (local.get $e)))
            (local.set $x0 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x0) (local.get $P)))
                                  (i32.load16_u (local.get $e))))
            ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
            (local.set $r (i32.lt_u (local.get $x0) (i32.const 0x10000)))
            (local.set $x0 (select (i32.or (i32.shl (local.get $x0) (i32.const 16)) (i32.load16_u (local.get $wp)))
                                 (local.get $x0) (local.get $r)))
            (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
            ;; out: value bits (and junk above, overwritten next); FxHash26 of s
            (i32.store (local.get $op) (local.get $sv))
            (local.set $op (i32.add (local.get $op) (local.get $sz)))
            (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
            (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
            (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
            (i32.store (local.get $q) (local.get $x0))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $ones)))
        ;; stop early on an under-run (k > W), else the next row
        (br_if $row (i32.le_u (local.get $wp) (local.get $wlim)))))
    (i32.store (i32.const 0x60000) (local.get $wp))
    (i32.store (i32.const 0x60004) (local.get $g5))
    (i32.store (i32.const 0x60008) (local.get $g6))
    (local.get $op))

  ;; The slot table (layout above) of a validated CDF: V >= 2 symbols, their V + 1 cumulative
  ;; frequencies as u16s at $cdfAt (cdf[V] = 2^P <= 2^15), and the value bits of each symbol as u16s at
  ;; $valsAt, or with $ids = 1 (4-byte dtypes) the ids themselves. One i64 store per slot: written
  ;; from JS it took ~1.7 ns per slot (node 20), ~30 us for a 2^14-slot table; a row-group tensor
  ;; prepares one table per group.
  (func (export "table") (param $V i32) (param $cdfAt i32) (param $valsAt i32) (param $ids i32)
    (local $s i32) (local $a i32) (local $q i32) (local $end i32) (local $w i64)
    (block $done
      (loop $sym
        (local.set $a (i32.add (local.get $cdfAt) (i32.shl (local.get $s) (i32.const 1))))
        (local.set $q (i32.shl (i32.load16_u (local.get $a)) (i32.const 3)))
        (local.set $end (i32.shl (i32.load16_u offset=2 (local.get $a)) (i32.const 3)))
        ;; (f << 16 | 0) | (value bits | s << 16) << 32, then + 1 per slot (slot - c)
        (local.set $w (i64.or
          (i64.extend_i32_u (i32.shl (i32.shr_u (i32.sub (local.get $end) (local.get $q)) (i32.const 3)) (i32.const 16)))
          (i64.shl (i64.extend_i32_u
                     (i32.or (select (local.get $s)
                                     (i32.load16_u (i32.add (local.get $valsAt) (i32.shl (local.get $s) (i32.const 1))))
                                     (local.get $ids))
                             (i32.shl (local.get $s) (i32.const 16))))
                   (i64.const 32))))
        (loop $slot
          (i64.store (local.get $q) (local.get $w))
          (local.set $w (i64.add (local.get $w) (i64.const 1)))
          (local.set $q (i32.add (local.get $q) (i32.const 8)))
          (br_if $slot (i32.lt_u (local.get $q) (local.get $end))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br_if $sym (i32.lt_u (local.get $s) (local.get $V))))))
)
