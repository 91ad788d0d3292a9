// Interleaved rANS decoding (spec/FORMAT.md section 10), the fast path.
//
// READ ME FIRST
// - Notation as in Duda's paper and ryg_rans: x is a lane state, f[s] and c[s] = cdf[s] the frequency
//   and start of symbol s, M = 2^P. States live in I = [2^16, 2^32).
// - Decoding entry i (lane j = i mod L):  slot = x & (M-1);  s = the symbol owning slot;
//   x = f[s] * (x >> P) + slot - c[s]   (s, x = D(x));  if x < 2^16: x = (x << 16) | words[k++].
//   After the last entry every word is read (k = W) and every lane is back at 2^16.
// - The slot table gives, for each of the 2^P slots, everything D needs in two adjacent int32s:
//   f << 16 | (slot - c), then the symbol s (for 8- and 16-bit dtypes s << 16 with the value's bits in
//   the low half, so that the output needs no second lookup). V >= 2 gives f < 2^15: all fits.
// - V = 1 is special: f[0] = M, D is the identity, no word is ever read, so the whole tensor is
//   values[0] and the stream is valid iff W = 0 and every state is 2^16 (checked without a loop).
// - The loops themselves are in rans_fast.js (generated; unrolled for L = 1, 2, 4, 8, generic for any
//   other L) with the FxHash26 of the ids computed in the same loop. src/reference.js is the
//   readable version they are tested against.
// - Spec revision 2. A chunked tensor (section 7.2) is K independent streams sharing one model:
//   decodeRansChunks prepares the model once (slot table, or the WebAssembly session) and decodes
//   each chunk's symbols from its own L states and W_k words into its slice of the output, checking
//   each stream (and, given them, its chunk checksum) before the next. A stream may hold fewer
//   symbols than lanes (a short last chunk): the lanes past it keep their state. PAIRS (section 7.1)
//   needs nothing here: the caller passes the u16 pair values and a Uint16Array view of the output.
//   The WebAssembly engine decodes chunks 2k and 2k+1 together where L is a multiple of 4 (two
//   FxHash26 chains side by side, wasm/rans_pair.wat), then checks chunk 2k and chunk 2k+1 in that
//   order, as if one after the other: same results and the same first failing chunk.

import * as fast from './rans_fast.js';
import { STATE_LOW } from './header.js';
import { wasmAvailable, wasmPrepare, wasmStream, wasmStreams, wasmRelease, streamWays, streamsAt } from './wasm/engine.js';
import { fxhash26Typed } from './fxhash.js';

const UNROLLED = {
  sv8: { 1: fast.sv8L1, 2: fast.sv8L2, 4: fast.sv8L4, 8: fast.sv8L8 },
  sv16: { 1: fast.sv16L1, 2: fast.sv16L2, 4: fast.sv16L4, 8: fast.sv16L8 },
  lut: { 1: fast.lutL1, 2: fast.lutL2, 4: fast.lutL4, 8: fast.lutL8 },
};
const GENERIC = { sv8: fast.sv8N, sv16: fast.sv16N, lut: fast.lutN };
/** Output view per element size: one element type per loop function (monomorphic accesses). */
const VIEW = { 1: Uint8Array, 2: Uint16Array, 4: Int32Array };
const MODE = { 1: 'sv8', 2: 'sv16', 4: 'lut' };

/**
 * Build the slot table for a validated CDF (cdf[0] = 0, strictly increasing, cdf[V] = 2^P, V >= 2).
 * @param {ArrayLike<number>} cdf  V+1 cumulative frequencies
 * @param {number} P  precision
 * @param {ArrayLike<number> | null} vals  values to pack next to the symbol (8/16-bit dtypes), or null
 * @param {Int32Array | null} into  an array of exactly 2 * 2^P entries to fill instead of a new one
 * @returns {Int32Array} 2 * 2^P entries per slot: f << 16 | (slot - c), then s << 16 | (value & 0xffff)
 *   (or just s when vals is null)
 */
export function buildSlotTable(cdf, P, vals = null, into = null) {
  const V = cdf.length - 1;
  // every slot is written (the CDF covers 0 .. 2^P): a reused array needs no zeroing
  const tb = into === null ? new Int32Array(2 << P) : into;
  for (let s = 0; s < V; s++) {
    const c = cdf[s], f = cdf[s + 1] - c;
    const second = vals === null ? s : (s << 16) | (vals[s] & 0xffff);
    let first = f << 16;
    for (let q = 2 * c, end = 2 * (c + f); q < end; q += 2) {
      tb[q] = first++;
      tb[q + 1] = second;
    }
  }
  return tb;
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

/** Entries per call of a decode loop: between calls an under-run is noticed and decoding stops. */
const ROWS_CHUNK = 1 << 16;

/**
 * Run the loops over entries [res[2], end) in chunks of whole rows, stopping early (returning false)
 * once the stream has under-run (k > W): a corrupt file that declares many entries over a short
 * stream costs at most one chunk more than the valid part, not a pass over all n entries.
 */
function decodeRows(unrolled, generic, tb, P, words, vals, out, st, end, res, W, L) {
  const step = Math.max(L, ROWS_CHUNK - (ROWS_CHUNK % L));
  while (res[2] < end) {
    const stop = Math.min(end, res[2] + step);
    if (unrolled) unrolled(tb, P, words, vals, out, st, stop, res);
    generic(tb, P, words, vals, out, st, stop, res);
    if (res[0] > W) return false;
  }
  return true;
}

/**
 * Decode n entries of an interleaved rANS stream into `out` (values[s] for each decoded symbol s).
 * The model must already be validated (spec section 13 rule 7); the stream need not be.
 *
 * @param {object} m
 * @param {ArrayLike<number>} m.states  initial lane states (L >= 1)
 * @param {Uint16Array} m.words   the word stream: exactly W words, or W + 1 with `padded: true`
 * @param {boolean} [m.padded]    words has one extra (ignored) element after the W words (then the
 *   loops run over it directly; otherwise the last rows are decoded from a small padded copy)
 * @param {ArrayLike<number>} m.cdf  V+1 cumulative frequencies
 * @param {number} m.P   precision
 * @param {number} m.n   number of entries (>= 1; may be below L: the lanes past n are not used)
 * @param {ArrayLike<number>} vals  values[s] in the output's element type (typed array of length V)
 * @param {ArrayLike<number>} out   output typed array of length >= n
 * @param {'js'|'wasm'|'auto'} [engine='js']  'js': the loops of rans_fast.js; 'wasm': the
 *   WebAssembly loops of wasm/rans.wat (wasm/engine.js); 'auto': 'wasm' where WebAssembly runs
 * @returns {{checksum: number, status: 'ok'|'underrun'|'leftover'|'badFinalState', wordsRead: number, lane: number}}
 */
export function decodeRans({ states, words, padded = false, cdf, P, n }, vals, out, engine = 'js') {
  const W = padded ? words.length - 1 : words.length;
  const dec = prepare(cdf, P, vals, engine, states.length, W, false);
  try {
    return dec.stream(states, words, padded, n, out);
  } finally {
    dec.release();
  }
}

/**
 * A decoder for one model (slot table built once), whose stream(states, words, padded, n, out)
 * decodes one stream as decodeRans does: the chunks of a tensor (spec section 7.2) share it.
 * maxW: the most words of any stream it will decode (the WebAssembly memory is sized for it).
 * `many`: how many streams the caller has; with two or more (the wasm engine: engine.js streamWays)
 * it may also have streams(list): `ways` (2 or 4) streams ({states, words, padded, n, out} each) at
 * once, as wasmStreams.
 */
function prepare(cdf, P, vals, engine, L, maxW, many, scratch = null) {
  const V = cdf.length - 1;
  if (V === 1) {
    const zeros = new Map(); // n -> FxHash26 of n zeros (the chunks of a tensor mostly have Q symbols)
    return { stream: (states, words, padded, n, out) => decodeSingle(states, padded ? words.length - 1 : words.length, vals, n, out, zeros), ways: 1, release() {} };
  }
  if (engine === 'wasm' || (engine === 'auto' && wasmAvailable())) {
    const ways = streamWays(L, many);
    const ctx = wasmPrepare(cdf, P, vals, L, maxW, ways);
    const wlen = (s) => (s.padded ? s.words.length - 1 : s.words.length);
    return {
      stream: (states, words, padded, n, out) => wasmStream(ctx, states, words, padded ? words.length - 1 : words.length, n, out),
      ways,
      streams: ways > 1 ? (list) => wasmStreams(ctx, list.map((x) => ({ ...x, W: wlen(x) }))) : null,
      release: () => wasmRelease(ctx),
    };
  }
  const size = vals.BYTES_PER_ELEMENT;
  const mode = MODE[size];
  const ctx = {
    P, L, mode, size,
    tb: buildSlotTable(cdf, P, mode === 'lut' ? null : vals, tableOf(scratch, P)),
    valsView: new VIEW[size](vals.buffer, vals.byteOffset, vals.length),
    unrolled: UNROLLED[mode][L],
    generic: GENERIC[mode],
  };
  return { stream: (states, words, padded, n, out) => jsStream(ctx, states, words, padded, n, out), ways: 1, release() {} };
}

/**
 * The slot table's array for the js engine: with `scratch` (decode()'s, shared by the blocks of one
 * call, decoded one after the other) a view of one array grown to the largest table, instead of a
 * new zeroed one per block (MiniLM int4 with row groups: 40 tables of 2^14 slots, 1.7 -> 1.0 ms).
 */
function tableOf(scratch, P) {
  if (scratch === null) return null;
  const need = 2 << P;
  if (scratch.table === null || scratch.table.length < need) scratch.table = new Int32Array(need);
  return scratch.table.length === need ? scratch.table : scratch.table.subarray(0, need);
}

/** V = 1: D is the identity: no word is read and no state changes. */
function decodeSingle(states, W, vals, n, out, zeros) {
  out.fill(vals[0], 0, n);
  let checksum = zeros.get(n);
  if (checksum === undefined) zeros.set(n, checksum = fxhash26Zeros(n));
  if (W !== 0) return { checksum, status: 'leftover', wordsRead: 0, lane: -1 };
  for (let j = 0; j < states.length; j++) {
    if (states[j] !== STATE_LOW) return { checksum, status: 'badFinalState', wordsRead: 0, lane: j };
  }
  return { checksum, status: 'ok', wordsRead: 0, lane: -1 };
}

function jsStream({ P, L, size, tb, valsView, unrolled, generic }, states, words, padded, n, out) {
  const W = padded ? words.length - 1 : words.length;
  const outView = new VIEW[size](out.buffer, out.byteOffset, n);
  const st = new Int32Array(L);
  for (let j = 0; j < L; j++) st[j] = states[j] | 0;
  const res = new Int32Array(3); // [k, h, i]
  let k;
  if (padded) {
    decodeRows(unrolled, generic, tb, P, words, valsView, outView, st, n, res, W, L);
    k = res[0];
  } else {
    // The loops read words[k] at every entry, also when k = W (the value is then unused): fine inside
    // a padded array; on an exact one it is an out-of-bounds read, which gives undefined (the same
    // result, | treats it as 0) but may cost V8 a deoptimisation. Rather than copy the whole stream,
    // decode all but the last rows from `words` (where a valid stream is normally still consuming
    // words), then the tail from a small padded copy of the words left.
    const tail = Math.min(n, L * Math.max(16, Math.ceil(64 / L)));
    const cut = n - tail - ((n - tail) % L);
    if (cut > 0 && !decodeRows(unrolled, generic, tb, P, words, valsView, outView, st, cut, res, W, L)) {
      return { checksum: res[1], status: 'underrun', wordsRead: res[0], lane: -1 };
    }
    const k0 = Math.min(res[0], W);
    const rest = new Uint16Array(W - k0 + 1);
    rest.set(words.subarray(k0, W));
    const over = res[0] - k0; // > 0 only if the first part already under-ran
    res[0] = 0;
    generic(tb, P, rest, valsView, outView, st, n, res);
    k = k0 + over + res[0];
  }
  const checksum = res[1];
  if (k > W) return { checksum, status: 'underrun', wordsRead: k, lane: -1 };
  if (k < W) return { checksum, status: 'leftover', wordsRead: k, lane: -1 };
  for (let j = 0; j < L; j++) {
    if (st[j] !== STATE_LOW) return { checksum, status: 'badFinalState', wordsRead: k, lane: j };
  }
  return { checksum, status: 'ok', wordsRead: k, lane: -1 };
}

/**
 * Decode the K chunks of a tensor (spec section 7.2; K = 1 for an unchunked one): chunk k is an
 * independent stream of its own symbols, L lanes (states[kL .. kL+L-1]) and chunkWords[k] words
 * (after those of the chunks before it), decoded into its slice of `out`. Stops at the first chunk
 * whose stream fails (status as decodeRans) or, given `expected` (the stored chunk checksums), whose
 * ids do not hash to expected[k] (status 'chunkChecksum').
 *
 * @param {object} m
 * @param {ArrayLike<number>} m.states  L * K initial states, chunk after chunk
 * @param {number} m.L  lanes per chunk
 * @param {Uint16Array} m.words  all W words of all chunks (W + 1 with padded)
 * @param {boolean} [m.padded]
 * @param {ArrayLike<number>} m.cdf
 * @param {number} m.P
 * @param {number} m.n  number of symbols N (>= 1)
 * @param {number} m.chunk  Q: symbols per chunk (0 = one stream)
 * @param {ArrayLike<number>} [m.chunkWords]  W_k per chunk (needed when chunk > 0)
 * @param {ArrayLike<number>} vals
 * @param {ArrayLike<number>} out  N elements
 * @param {'js'|'wasm'|'auto'} [engine='js']
 * @param {ArrayLike<number> | null} [expected]
 * @param {boolean} [twoStreams=true]
 * @param {{table: Int32Array | null} | null} [scratch]  reused by the js engine for its slot table (decode())
 * @returns {{status: string, chunk: number, wordStart: number, wordsRead: number, lane: number,
 *   checksum: number, checksums: Uint32Array}} checksum: of the ids (K = 1) or of the chunk checksums
 *   computed (K > 1); checksums: each chunk's; on failure chunk is the failing one, wordStart its
 *   first word's index in `words`, wordsRead and lane as decodeRans
 */
export function decodeRansChunks(m, vals, out, engine = 'js', expected = null, twoStreams = true, scratch = null) {
  const { states, L, words, padded = false, cdf, P, n, chunk: Q } = m;
  const W = padded ? words.length - 1 : words.length;
  const K = Q > 0 ? Math.ceil(n / Q) : 1;
  const wk = (k) => (Q > 0 ? m.chunkWords[k] : W);
  let maxW = 0;
  for (let k = 0; k < K; k++) maxW = Math.max(maxW, wk(k));
  const checksums = new Uint32Array(K);
  const dec = prepare(cdf, P, vals, engine, L, maxW, twoStreams ? K : 1, scratch);
  const wordStarts = new Float64Array(K + 1); // chunk k's words: [wordStarts[k], wordStarts[k + 1])
  for (let k = 0; k < K; k++) wordStarts[k + 1] = wordStarts[k] + wk(k);
  // Chunk k's stream: its words (with the word after them, if any, as padding), states, output slice.
  const streamOf = (k) => {
    const a = k * Q, b = Q > 0 ? Math.min(n, a + Q) : n;
    const end = wordStarts[k + 1];
    const padded = end < words.length; // a word after this chunk's (the next chunk's, or the pad)
    return {
      words: words.subarray(wordStarts[k], padded ? end + 1 : end),
      padded,
      states: states.subarray ? states.subarray(k * L, k * L + L) : Array.prototype.slice.call(states, k * L, k * L + L),
      n: b - a,
      out: out.subarray(a, b),
    };
  };
  // Chunk k's result: null if it is fine, else what decodeRansChunks returns for it.
  const failure = (k, r) => {
    checksums[k] = r.checksum;
    const wordStart = wordStarts[k];
    if (r.status !== 'ok') return { ...r, chunk: k, wordStart, checksums, checksum: 0 };
    if (expected !== null && r.checksum !== expected[k]) {
      return { status: 'chunkChecksum', chunk: k, wordStart, wordsRead: wk(k), lane: -1, checksums, checksum: r.checksum };
    }
    return null;
  };
  try {
    for (let k = 0; k < K;) {
      // Chunks k .. k + q - 1 in one loop (q = 4 or 2 where the engine can), checked in order: after
      // a failing chunk the results are null.
      const q = streamsAt(dec.ways, k, K);
      if (q > 1) {
        const list = [];
        for (let j = 0; j < q; j++) list.push(streamOf(k + j));
        const rs = dec.streams(list);
        for (let j = 0; j < q; j++) {
          const f = failure(k + j, rs[j]);
          if (f !== null) return f;
        }
      } else {
        const s = streamOf(k);
        const f = failure(k, dec.stream(s.states, s.words, s.padded, s.n, s.out));
        if (f !== null) return f;
      }
      k += q;
    }
  } finally {
    dec.release();
  }
  const wordStart = wordStarts[K];
  const checksum = Q > 0 ? fxhash26Typed(checksums) : checksums[0];
  return { status: 'ok', chunk: -1, wordStart, wordsRead: 0, lane: -1, checksum, checksums };
}
