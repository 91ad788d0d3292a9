// Interleaved rANS decoding (spec/FORMAT.md section 10), the fast path.
//
// READ ME FIRST
// - Notation as in Duda's paper and ryg_rans: x is a lane state, f[s] and c[s] = cdf[s] the frequency
//   and start of symbol s, M = 2^P. States live in I = [2^16, 2^32).
// - Decoding entry i (lane j = i mod L):  slot = x & (M-1);  s = the symbol owning slot;
//   x = f[s] * (x >> P) + slot - c[s]   (s, x = D(x));  if x < 2^16: x = (x << 16) | words[k++].
//   After the last entry every word is read (k = W) and every lane is back at 2^16.
// - The slot table maps each of the 2^P slots to (s, f[s], slot - c[s]) so that one lookup gives
//   everything D needs. "Packed" layout: one int32 per slot, s | bias << symBits | f << fShift, used
//   when bits(V-1) + bits(max f - 1) + bits(max f) <= 32 (e.g. every int8 tensor at P <= 12).
//   "Wide" layout otherwise: f << 16 | bias in an Int32Array plus s in a Uint16Array.
// - V = 1 is special: f[0] = M, D is the identity, no word is ever read, so the whole tensor is
//   values[0] and the stream is valid iff W = 0 and every state is 2^16 (checked without a loop).
// - The loops themselves are in rans_fast.js (generated, unrolled for L = 1, 2, 4, 8); the FxHash26
//   checksum of the ids is computed in the same loop. src/reference.js is the readable version.

import * as fast from './rans_fast.js';
import { STATE_LOW } from './header.js';

const bitLength = (v) => (v <= 0 ? 0 : 32 - Math.clz32(v));

/**
 * Build the slot table for a validated CDF (cdf[0] = 0, strictly increasing, cdf[V] = 2^P).
 * @param {Uint16Array | ArrayLike<number>} cdf  V+1 cumulative frequencies
 * @param {number} P  precision
 * @returns {{packed: boolean, tbl: Int32Array, syms: Uint16Array | null, symBits: number, fShift: number}}
 */
export function buildSlotTable(cdf, P) {
  const V = cdf.length - 1;
  const M = 1 << P;
  let maxF = 0;
  for (let s = 0; s < V; s++) maxF = Math.max(maxF, cdf[s + 1] - cdf[s]);
  const symBits = Math.max(1, bitLength(V - 1));
  const biasBits = bitLength(maxF - 1);
  const fBits = bitLength(maxF);
  const tbl = new Int32Array(M);
  if (symBits + biasBits + fBits <= 32) {
    const fShift = symBits + biasBits;
    for (let s = 0; s < V; s++) {
      const c = cdf[s], f = cdf[s + 1] - c;
      for (let slot = c; slot < c + f; slot++) tbl[slot] = s | ((slot - c) << symBits) | (f << fShift);
    }
    return { packed: true, tbl, syms: null, symBits, fShift };
  }
  const syms = new Uint16Array(M);
  for (let s = 0; s < V; s++) {
    const c = cdf[s], f = cdf[s + 1] - c;
    for (let slot = c; slot < c + f; slot++) {
      tbl[slot] = (f << 16) | (slot - c);
      syms[slot] = s;
    }
  }
  return { packed: false, tbl, syms, symBits: 16, fShift: 16 };
}

/**
 * FxHash26 of n zeros (the ids of a single-valued tensor), without building the array.
 * @param {number} n
 */
export function fxhash26Zeros(n) {
  let h = 0;
  for (let i = 0; i < n; i++) {
    h = ((h & 0x1fffff) << 5) | (h >>> 21);
    h = Math.imul(h, 0x03220a95) & 0x3ffffff;
  }
  return h;
}

/**
 * Decode n entries of an interleaved rANS stream into `out` (values[s] for each decoded symbol s).
 * The model must already be validated (spec section 13 rule 7); the stream need not be.
 *
 * @param {object} m
 * @param {Uint32Array | ArrayLike<number>} m.states  initial lane states (L >= 1)
 * @param {Uint16Array} m.words   the word stream (exactly W words)
 * @param {Uint16Array | ArrayLike<number>} m.cdf  V+1 cumulative frequencies
 * @param {number} m.P   precision
 * @param {number} m.n   number of entries (>= 1)
 * @param {ArrayLike<number>} vals  values[s] in the output's element type (typed array of length V)
 * @param {ArrayLike<number>} out   output typed array of length >= n
 * @returns {{checksum: number, status: 'ok'|'underrun'|'leftover'|'badFinalState', wordsRead: number, lane: number}}
 */
export function decodeRans({ states, words, cdf, P, n }, vals, out) {
  const L = states.length;
  const W = words.length;
  const V = cdf.length - 1;
  if (V === 1) {
    // D is the identity: no word is read and no state changes.
    out.fill(vals[0], 0, n);
    const checksum = fxhash26Zeros(n);
    if (W !== 0) return { checksum, status: 'leftover', wordsRead: 0, lane: -1 };
    for (let j = 0; j < L; j++) {
      if (states[j] !== STATE_LOW) return { checksum, status: 'badFinalState', wordsRead: 0, lane: j };
    }
    return { checksum, status: 'ok', wordsRead: 0, lane: -1 };
  }
  const t = buildSlotTable(cdf, P);
  const st = new Int32Array(L);
  for (let j = 0; j < L; j++) st[j] = states[j] | 0;
  const res = new Int32Array(3); // [k, h, i]
  if (t.packed) {
    const unrolled = { 1: fast.packedL1, 2: fast.packedL2, 4: fast.packedL4, 8: fast.packedL8 }[L];
    if (unrolled) unrolled(t.tbl, t.symBits, t.fShift, P, words, vals, out, st, n, res);
    fast.packedN(t.tbl, t.symBits, t.fShift, P, words, vals, out, st, n, res);
  } else {
    const unrolled = { 1: fast.wideL1, 2: fast.wideL2, 4: fast.wideL4, 8: fast.wideL8 }[L];
    if (unrolled) unrolled(t.tbl, t.syms, P, words, vals, out, st, n, res);
    fast.wideN(t.tbl, t.syms, P, words, vals, out, st, n, res);
  }
  const k = res[0];
  const checksum = res[1];
  if (k > W) return { checksum, status: 'underrun', wordsRead: k, lane: -1 };
  if (k < W) return { checksum, status: 'leftover', wordsRead: k, lane: -1 };
  for (let j = 0; j < L; j++) {
    if (st[j] !== STATE_LOW) return { checksum, status: 'badFinalState', wordsRead: k, lane: j };
  }
  return { checksum, status: 'ok', wordsRead: k, lane: -1 };
}
