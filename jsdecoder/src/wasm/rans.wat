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
;;     0x40000  (unused: reserved for a values table)
;;     0x60000  CTL: +0 wp (byte address of words[k]), +4 g5, +8 g6 (the hash, below)
;;     st       the L lane states, u32 each (the driver puts them at 0x60040)
;;     words    the W words, then zeros: at least 4096 + L padding words, so that a corrupt stream
;;              that under-runs reads zeros until the next check notices k > W (wp > wlim)
;;     out      the output (a staging area): each entry's (s << 16 | value bits) stored with
;;              i32.store at a stride of sz = 1 or 2 bytes in increasing address order, so each
;;              store's extra high bytes are overwritten by the next (4 spare bytes at the end)
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
;; block of 4096 entries (once per row in the generic loop) and return early; the padding words cover
;; what a block can read past the end. Final states and k = W are checked by the driver.
;;
;; Exports (all return the output address reached; op advances by sz per entry):
;;     decode1 / decode2 / decode4 / decode8 (P, sz, op, oend, wlim, st): whole rows of L = 1, 2, 4, 8
;;         lanes, states in locals; (oend - op) / sz must be a multiple of L (of 2 for decode1)
;;     decodeN (P, sz, op, oend, wlim, st, L): any L, whole rows and a partial last row, states in
;;         memory, four lanes at a time
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

  ;; L = 4: whole rows of 4 entries, the lane states in locals.
  (func (export "decode4") (param $P i32) (param $sz i32) (param $op i32) (param $oend i32)
        (param $wlim i32) (param $st i32) (result i32)
    (local $mask i32) (local $e i32) (local $sv i32) (local $r i32) (local $a i32)
    (local $wp i32) (local $g5 i32) (local $g6 i32) (local $bend i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local.set $mask (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1)))
    (local.set $wp (i32.load (i32.const 0x60000)))
    (local.set $g5 (i32.load (i32.const 0x60004)))
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
          (br_if $rows (i32.lt_u (local.get $op) (local.get $bend))))
        ;; stop early on an under-run (k > W), else go on with the next block
        (br_if $blocks (i32.le_u (local.get $wp) (local.get $wlim)))))
    (i32.store (i32.const 0x60000) (local.get $wp))
    (i32.store (i32.const 0x60004) (local.get $g5))
    (i32.store (i32.const 0x60008) (local.get $g6))
    (i32.store offset=0 (local.get $st) (local.get $x0))
    (i32.store offset=4 (local.get $st) (local.get $x1))
    (i32.store offset=8 (local.get $st) (local.get $x2))
    (i32.store offset=12 (local.get $st) (local.get $x3))
    (local.get $op))

  ;; L = 8: whole rows of 8 entries, the lane states in locals.
  (func (export "decode8") (param $P i32) (param $sz i32) (param $op i32) (param $oend i32)
        (param $wlim i32) (param $st i32) (result i32)
    (local $mask i32) (local $e i32) (local $sv i32) (local $r i32) (local $a i32)
    (local $wp i32) (local $g5 i32) (local $g6 i32) (local $bend i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $x4 i32) (local $x5 i32) (local $x6 i32) (local $x7 i32)
    (local.set $mask (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1)))
    (local.set $wp (i32.load (i32.const 0x60000)))
    (local.set $g5 (i32.load (i32.const 0x60004)))
    (local.set $g6 (i32.load (i32.const 0x60008)))
    (local.set $x0 (i32.load offset=0 (local.get $st)))
    (local.set $x1 (i32.load offset=4 (local.get $st)))
    (local.set $x2 (i32.load offset=8 (local.get $st)))
    (local.set $x3 (i32.load offset=12 (local.get $st)))
    (local.set $x4 (i32.load offset=16 (local.get $st)))
    (local.set $x5 (i32.load offset=20 (local.get $st)))
    (local.set $x6 (i32.load offset=24 (local.get $st)))
    (local.set $x7 (i32.load offset=28 (local.get $st)))
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
          ;; lane 4: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x4) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x4 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x4) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x4) (i32.const 0x10000)))
          (local.set $x4 (select (i32.or (i32.shl (local.get $x4) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x4) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          ;; lane 5: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x5) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x5 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x5) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x5) (i32.const 0x10000)))
          (local.set $x5 (select (i32.or (i32.shl (local.get $x5) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x5) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          ;; lane 6: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x6) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x6 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x6) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x6) (i32.const 0x10000)))
          (local.set $x6 (select (i32.or (i32.shl (local.get $x6) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x6) (local.get $r)))
          (local.set $wp (i32.add (local.get $wp) (i32.shl (local.get $r) (i32.const 1))))
          ;; out: value bits (and junk above, overwritten next); FxHash26 of s
          (i32.store (local.get $op) (local.get $sv))
          (local.set $op (i32.add (local.get $op) (local.get $sz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5) (i32.shr_u (local.get $sv) (i32.const 16))) (i32.shr_u (local.get $g6) (i32.const 27))))
          (local.set $g5 (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6 (i32.mul (local.get $a) (i32.const 0xC882A540)))
          ;; lane 7: s, x = D(x) from the slot table
          (local.set $e (i32.shl (i32.and (local.get $x7) (local.get $mask)) (i32.const 3)))
          (local.set $sv (i32.load offset=4 (local.get $e)))
          (local.set $x7 (i32.add (i32.mul (i32.load16_u offset=2 (local.get $e)) (i32.shr_u (local.get $x7) (local.get $P)))
                                (i32.load16_u (local.get $e))))
          ;; refill without a branch: r = x < 2^16; x = r ? x << 16 | words[k] : x; k += r
          (local.set $r (i32.lt_u (local.get $x7) (i32.const 0x10000)))
          (local.set $x7 (select (i32.or (i32.shl (local.get $x7) (i32.const 16)) (i32.load16_u (local.get $wp)))
                               (local.get $x7) (local.get $r)))
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
    (i32.store offset=8 (local.get $st) (local.get $x2))
    (i32.store offset=12 (local.get $st) (local.get $x3))
    (i32.store offset=16 (local.get $st) (local.get $x4))
    (i32.store offset=20 (local.get $st) (local.get $x5))
    (i32.store offset=24 (local.get $st) (local.get $x6))
    (i32.store offset=28 (local.get $st) (local.get $x7))
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
)
