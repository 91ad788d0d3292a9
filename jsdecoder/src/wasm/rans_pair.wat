;; anspack: two independent rANS streams decoded in one loop (spec/FORMAT.md section 7.2: the chunks
;; of a tensor are independent streams sharing one model), as a second, small WebAssembly module.
;;
;; Hand-written; `node jsdecoder/scripts/build-wasm.mjs` builds it with rans.wat into rans_wasm.js
;; (RANS_PAIR_WASM_BASE64). It has no memory of its own: it imports the memory of the rans.wat
;; instance ("env" "mem"), whose slot table, REFILL table (built by rans.wat's start function) and
;; layout it uses; see the header of rans.wat for the notation, the slot table and the SIMD group.
;; Two modules rather than one: each stays below 4 KB, the size up to which browsers compile a module
;; synchronously on the main thread.
;;
;; Why: one stream's loop is capped by its serial FxHash26 chain (each h needs the previous one; ~500 M
;; entries/s in node 20 here). Two streams have two independent chains, which the CPU runs side by
;; side: a row of stream A's groups interleaved with stream B's (group A, group B, group A, ...).
;;
;; Layout (the driver, engine.js, places the variable parts):
;;     0x60000  CTL of stream A: +0 wp, +4 g5, +8 g6 (as rans.wat)
;;     0x60010  CTL of stream B: +0 wp, +4 g5, +8 g6
;;     stA, stB the L lane states of A and of B (u32 each)
;;     each stream's words, then at least 4096 + 16 + L zero words (as rans.wat)
;;     opA, opB the two staging areas (one entry every sz bytes, sz = 1 or 2); each group of four
;;              entries is stored as 8 bytes, so with sz = 1 four bytes past the group are written
;;              (overwritten by the next group; the driver leaves 8 spare bytes after each area)
;;
;; Speed (node 20, this 2-core VM, loops alone, benchmarks/wasm_bench/two_streams.mjs, best of
;; interleaved rounds): 1.2-1.3x rans.wat's loops decoding the same two streams one after the other
;; at L = 4 (vs decode4) and L = 8, ~1.18x at L = 16, 1.2x at L = 32 (~540-590 M entries/s at L >= 8).
;; Branch-free output: a first version chose the 4- or 8-byte store per group with an `if` on sz (as
;; decodeV did then) and gained only ~1.1x at L = 8 and nothing at L = 16.
;;
;; Export:
;;     decodeV2 (P, sz, opA, oendA, opB, stA, stB, L, wlimA, wlimB): L a multiple of 4 (>= 4), whole
;;         rows of both streams, as many of B as of A ((oendA - opA) / sz entries each). Stops early
;;         after the row in which either stream under-ran (wp > wlim). Returns the address reached in
;;         A's output (B's is opB plus as many bytes); the word cursors, hashes and states are stored
;;         back, so that rans.wat's loops can carry on with either stream.
(module
  (import "env" "mem" (memory 1))
  (func (export "decodeV2") (param $P i32) (param $sz i32) (param $opA i32) (param $oendA i32)
        (param $opB i32) (param $stA i32) (param $stB i32) (param $L i32) (param $wlimA i32) (param $wlimB i32)
        (result i32)
    (local $a i32) (local $b i32) (local $q i32) (local $qend i32) (local $gsz i32)
    (local $e0 i32) (local $e1 i32) (local $e2 i32) (local $e3 i32)
    (local $wpA i32) (local $g5A i32) (local $g6A i32) (local $wpB i32) (local $g5B i32) (local $g6B i32)
    (local $X v128) (local $I v128) (local $T01 v128) (local $T23 v128) (local $BF v128) (local $M v128)
    (local $SV v128) (local $MASKV v128) (local $LO16 v128) (local $ZERO v128) (local $OUTS v128)
    (local.set $MASKV (i32x4.splat (i32.sub (i32.shl (i32.const 1) (local.get $P)) (i32.const 1))))
    (local.set $LO16 (v128.const i32x4 0xFFFF 0xFFFF 0xFFFF 0xFFFF))
    (local.set $ZERO (v128.const i32x4 0 0 0 0))
    ;; the output bytes of a group's SV (the value bits, byte 0 or bytes 0..1 of each lane), always
    ;; stored as 8 bytes: with sz = 1 the 4 bytes past the group's are overwritten by the next group
    ;; (or land in the staging area's spare bytes), as rans.wat's i32 stores
    (local.set $OUTS (select (v128.const i8x16 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0)
                             (v128.const i8x16 0 1 4 5 8 9 12 13 0 0 0 0 0 0 0 0)
                             (i32.eq (local.get $sz) (i32.const 1))))
    (local.set $wpA (i32.load (i32.const 0x60000)))
    (local.set $g5A (i32.load (i32.const 0x60004)))
    (local.set $g6A (i32.load (i32.const 0x60008)))
    (local.set $wpB (i32.load (i32.const 0x60010)))
    (local.set $g5B (i32.load (i32.const 0x60014)))
    (local.set $g6B (i32.load (i32.const 0x60018)))
    (local.set $qend (i32.shl (local.get $L) (i32.const 2)))
    (local.set $gsz (i32.shl (local.get $sz) (i32.const 2)))
    (block $stop
      (loop $row
        (br_if $stop (i32.ge_u (local.get $opA) (local.get $oendA)))
        (local.set $q (i32.const 0))
        (loop $groups
          ;; stream A: the group of four lanes at stA + q
          (local.set $X (v128.load (i32.add (local.get $stA) (local.get $q))))
          (local.set $I (i32x4.shl (v128.and (local.get $X) (local.get $MASKV)) (i32.const 3)))
          (local.set $e0 (i32x4.extract_lane 0 (local.get $I)))
          (local.set $e1 (i32x4.extract_lane 1 (local.get $I)))
          (local.set $e2 (i32x4.extract_lane 2 (local.get $I)))
          (local.set $e3 (i32x4.extract_lane 3 (local.get $I)))
          (local.set $T01 (v128.load64_lane 1 (local.get $e1) (v128.load64_zero (local.get $e0))))
          (local.set $T23 (v128.load64_lane 1 (local.get $e3) (v128.load64_zero (local.get $e2))))
          (local.set $BF (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $T01) (local.get $T23)))
          (local.set $X (i32x4.add (i32x4.mul (i32x4.shr_u (local.get $X) (local.get $P))
                                              (i32x4.shr_u (local.get $BF) (i32.const 16)))
                                   (v128.and (local.get $BF) (local.get $LO16))))
          (local.set $M (i32x4.eq (i32x4.shr_u (local.get $X) (i32.const 16)) (local.get $ZERO)))
          (local.set $b (i32x4.bitmask (local.get $M)))
          (local.set $X (i32x4.max_u (local.get $X)
            (v128.or (i32x4.shl (v128.and (local.get $X) (local.get $M)) (i32.const 16))
                     (i8x16.swizzle (v128.load (local.get $wpA))
                                    (v128.load offset=0x40000 (i32.shl (local.get $b) (i32.const 4)))))))
          (local.set $wpA (i32.add (local.get $wpA) (i32.shl (i32.popcnt (local.get $b)) (i32.const 1))))
          (v128.store (i32.add (local.get $stA) (local.get $q)) (local.get $X))
          (local.set $SV (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $T01) (local.get $T23)))
          (v128.store64_lane 0 (local.get $opA) (i8x16.swizzle (local.get $SV) (local.get $OUTS)))
          (local.set $opA (i32.add (local.get $opA) (local.get $gsz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5A) (i32.load16_u offset=6 (local.get $e0))) (i32.shr_u (local.get $g6A) (i32.const 27))))
          (local.set $g5A (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6A (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5A) (i32.load16_u offset=6 (local.get $e1))) (i32.shr_u (local.get $g6A) (i32.const 27))))
          (local.set $g5A (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6A (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5A) (i32.load16_u offset=6 (local.get $e2))) (i32.shr_u (local.get $g6A) (i32.const 27))))
          (local.set $g5A (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6A (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5A) (i32.load16_u offset=6 (local.get $e3))) (i32.shr_u (local.get $g6A) (i32.const 27))))
          (local.set $g5A (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6A (i32.mul (local.get $a) (i32.const 0xC882A540)))
          ;; stream B: the group of four lanes at stB + q
          (local.set $X (v128.load (i32.add (local.get $stB) (local.get $q))))
          (local.set $I (i32x4.shl (v128.and (local.get $X) (local.get $MASKV)) (i32.const 3)))
          (local.set $e0 (i32x4.extract_lane 0 (local.get $I)))
          (local.set $e1 (i32x4.extract_lane 1 (local.get $I)))
          (local.set $e2 (i32x4.extract_lane 2 (local.get $I)))
          (local.set $e3 (i32x4.extract_lane 3 (local.get $I)))
          (local.set $T01 (v128.load64_lane 1 (local.get $e1) (v128.load64_zero (local.get $e0))))
          (local.set $T23 (v128.load64_lane 1 (local.get $e3) (v128.load64_zero (local.get $e2))))
          (local.set $BF (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $T01) (local.get $T23)))
          (local.set $X (i32x4.add (i32x4.mul (i32x4.shr_u (local.get $X) (local.get $P))
                                              (i32x4.shr_u (local.get $BF) (i32.const 16)))
                                   (v128.and (local.get $BF) (local.get $LO16))))
          (local.set $M (i32x4.eq (i32x4.shr_u (local.get $X) (i32.const 16)) (local.get $ZERO)))
          (local.set $b (i32x4.bitmask (local.get $M)))
          (local.set $X (i32x4.max_u (local.get $X)
            (v128.or (i32x4.shl (v128.and (local.get $X) (local.get $M)) (i32.const 16))
                     (i8x16.swizzle (v128.load (local.get $wpB))
                                    (v128.load offset=0x40000 (i32.shl (local.get $b) (i32.const 4)))))))
          (local.set $wpB (i32.add (local.get $wpB) (i32.shl (i32.popcnt (local.get $b)) (i32.const 1))))
          (v128.store (i32.add (local.get $stB) (local.get $q)) (local.get $X))
          (local.set $SV (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $T01) (local.get $T23)))
          (v128.store64_lane 0 (local.get $opB) (i8x16.swizzle (local.get $SV) (local.get $OUTS)))
          (local.set $opB (i32.add (local.get $opB) (local.get $gsz)))
          (local.set $a (i32.xor (i32.xor (local.get $g5B) (i32.load16_u offset=6 (local.get $e0))) (i32.shr_u (local.get $g6B) (i32.const 27))))
          (local.set $g5B (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6B (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5B) (i32.load16_u offset=6 (local.get $e1))) (i32.shr_u (local.get $g6B) (i32.const 27))))
          (local.set $g5B (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6B (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5B) (i32.load16_u offset=6 (local.get $e2))) (i32.shr_u (local.get $g6B) (i32.const 27))))
          (local.set $g5B (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6B (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $a (i32.xor (i32.xor (local.get $g5B) (i32.load16_u offset=6 (local.get $e3))) (i32.shr_u (local.get $g6B) (i32.const 27))))
          (local.set $g5B (i32.mul (local.get $a) (i32.const 0x644152A0)))
          (local.set $g6B (i32.mul (local.get $a) (i32.const 0xC882A540)))
          (local.set $q (i32.add (local.get $q) (i32.const 16)))
          (br_if $groups (i32.lt_u (local.get $q) (local.get $qend))))
        ;; stop early when either stream has under-run (k > W), else the next row
        (br_if $row (i32.and (i32.le_u (local.get $wpA) (local.get $wlimA))
                             (i32.le_u (local.get $wpB) (local.get $wlimB))))))
    (i32.store (i32.const 0x60000) (local.get $wpA))
    (i32.store (i32.const 0x60004) (local.get $g5A))
    (i32.store (i32.const 0x60008) (local.get $g6A))
    (i32.store (i32.const 0x60010) (local.get $wpB))
    (i32.store (i32.const 0x60014) (local.get $g5B))
    (i32.store (i32.const 0x60018) (local.get $g6B))
    (local.get $opA))
)
