// The WebAssembly rANS engine: drives the decode loops of rans.wat, rans_pair.wat and rans_quad.wat
// (all compiled into rans_wasm.js) with the same inputs and result as decodeRans in ../rans.js, which
// stays the pure-JS reference engine.
//
// Per tensor: the slot table (with the values' bits), the lane states and the words are copied into
// the module's memory (grown as needed), the loops decode into a staging area of at most STAGE
// entries (a whole number of rows), and each stage is copied into the caller's output array (for
// 4-byte dtypes the loops write the ids, mapped to values here). The loops: scalar ones for L = 1, 2,
// 4, a WebAssembly SIMD one (fixed-width 128-bit) for L >= 5, a generic one for L = 3 and the last
// partial row. Chunks of a tensor (spec section 7.2) are decoded several at a time by wasmStreams:
// four with L = 8 (rans_quad.wat, decodeV4: four FxHash26 chains in the lanes of one vector,
// 1.18-1.24x two pairs), else two with L a multiple of 4 (rans_pair.wat, decodeV2: 1.1-1.3x the loops
// decoding one stream after the other, whose speed is capped by the serial FxHash26 chain): the
// rows they all have in one loop, then each stream's tail alone.
//
// Three modules, each below 4 KB (rans.wat 3.5 KB, rans_pair.wat 3.1 KB, rans_quad.wat 3.3 KB; the
// last two import the first's memory): all are compiled synchronously on first use, which browsers
// allow on the main thread for modules < 4 KB. Where the first does not compile (no WebAssembly, no
// SIMD, a Content-Security-Policy without 'wasm-unsafe-eval') engine 'auto' uses the pure-JS loops;
// where only the pair or quad module fails, chunks are decoded fewer at a time (pairLanes() or
// quadLanes() is then false). One instance per thread (window or worker) is kept and reused, and
// dropped again after a tensor that made its memory grow past KEEP_BYTES, so that a large file's
// memory can be reclaimed.

import { AnspackError } from '../errors.js';
import { LITTLE_ENDIAN } from '../header.js';
import { RANS_WASM_BASE64, RANS_PAIR_WASM_BASE64, RANS_QUAD_WASM_BASE64 } from './rans_wasm.js';

// Memory layout: see the header of rans.wat.
const CTL_AT = 0x60000;
/** The CTLs of streams A, B, C, D for decodeV2 / decodeV4 (A's is CTL_AT); copied to CTL_AT to go on alone. */
const CTLS = [CTL_AT, 0x60010, 0x60020, 0x60030];
const STATES_AT = 0x60040;
/** Entries per call of a decode loop (whole rows); the output is copied out after each call. */
const STAGE = 1 << 16;
/** Words of zeros after the stream: what one block (4096 entries) or one row can read past it. */
const PAD_WORDS = 4096 + 16;
const PAGE = 65536;
/** Largest memory this engine asks for (the wasm32 limit is 4 GiB). */
const MAX_BYTES = 2 ** 32 - PAGE;
const KEEP_BYTES = 64 * 2 ** 20;

let compiled = null; // WebAssembly.Module, or false when unavailable
const compiledExtra = { pair: null, quad: null }; // the same for rans_pair.wat and rans_quad.wat
let instance = null;

function base64Bytes(b64) {
  if (typeof atob === 'function') {
    const s = atob(b64);
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return bytes;
  }
  return new Uint8Array(Buffer.from(b64, 'base64')); // node < 16 has no atob
}

/** True if this JS engine can run the WebAssembly decoder (WebAssembly present, little-endian host). */
export function wasmAvailable() {
  if (compiled === null) {
    compiled = false;
    if (LITTLE_ENDIAN && typeof WebAssembly === 'object' && typeof WebAssembly.Module === 'function') {
      try {
        compiled = new WebAssembly.Module(base64Bytes(RANS_WASM_BASE64));
      } catch {
        compiled = false; // e.g. a Content-Security-Policy without 'wasm-unsafe-eval'
      }
    }
  }
  return compiled !== false;
}

/** The pair or quad module (compiled once), or false where it does not compile. */
function extraModule(which) {
  if (compiledExtra[which] === null) {
    try {
      compiledExtra[which] = new WebAssembly.Module(base64Bytes(which === 'pair' ? RANS_PAIR_WASM_BASE64 : RANS_QUAD_WASM_BASE64));
    } catch {
      compiledExtra[which] = false; // then chunks are decoded fewer at a time
    }
  }
  return compiledExtra[which];
}

/**
 * True if wasmStreams decodes two streams of L lanes in one loop (L a multiple of 4, the pair
 * module available); otherwise the caller decodes them one after the other with wasmStream.
 */
export function pairLanes(L) {
  return L % 4 === 0 && getInstance().pair !== null;
}

/** True if wasmStreams decodes four streams of L lanes in one loop (L = 8, the quad module available). */
export function quadLanes(L) {
  return L === 8 && getInstance().quad !== null;
}

/**
 * How many of a tensor's K chunks of L lanes the wasm engine decodes at a time: 4 (quadLanes), 2
 * (pairLanes) or 1.
 */
export function streamWays(L, K) {
  return K >= 4 && quadLanes(L) ? 4 : K >= 2 && pairLanes(L) ? 2 : 1;
}

/** How many chunks from chunk k of K to decode in one loop, for a session of `ways` streams. */
export function streamsAt(ways, k, K) {
  return ways >= 4 && k + 3 < K ? 4 : ways >= 2 && k + 1 < K ? 2 : 1;
}

function getInstance() {
  if (instance === null) {
    if (!wasmAvailable()) throw new AnspackError('BadArgument', 'engine "wasm": WebAssembly is not available here');
    let inst;
    try {
      inst = new WebAssembly.Instance(compiled, {});
    } catch (err) {
      throw new AnspackError('LimitExceeded', `the WebAssembly decoder could not be instantiated (${err && err.message}); decode with {engine: 'js'}`);
    }
    const e = inst.exports;
    const extra = (which, name) => {
      const mod = extraModule(which);
      if (mod === false) return null;
      try {
        return new WebAssembly.Instance(mod, { env: { mem: e.mem } }).exports[name];
      } catch {
        return null;
      }
    };
    instance = { mem: e.mem, unrolled: { 1: e.decode1, 2: e.decode2, 4: e.decode4, 8: e.decode8 }, vector: e.decodeV, generic: e.decodeN, table: e.table, pair: extra('pair', 'decodeV2'), quad: extra('quad', 'decodeV4') };
  }
  return instance;
}

function ensureMemory(inst, bytes) {
  if (bytes > MAX_BYTES) {
    throw new AnspackError('LimitExceeded', `the WebAssembly decoder would need ${bytes} bytes of memory, above its limit of ${MAX_BYTES}; decode with {engine: 'js'}`);
  }
  const have = inst.mem.buffer.byteLength;
  if (bytes <= have) return;
  try {
    inst.mem.grow(Math.ceil((bytes - have) / PAGE));
  } catch (err) {
    throw new AnspackError('LimitExceeded', `the WebAssembly decoder could not grow its memory to ${bytes} bytes (${err && err.message}); decode with {engine: 'js'}`);
  }
}

/**
 * decodeRans (../rans.js) on the WebAssembly loops: same arguments, same result. V >= 2 (the caller
 * handles V = 1), 1-, 2- or 4-byte values.
 */
export function decodeRansWasm({ states, words, padded = false, cdf, P, n }, vals, out) {
  const W = padded ? words.length - 1 : words.length;
  const ctx = wasmPrepare(cdf, P, vals, states.length, W);
  try {
    return wasmStream(ctx, states, words, W, n, out);
  } finally {
    wasmRelease(ctx);
  }
}

/**
 * Set up the module for one model (spec section 7.2: the chunks of a tensor share it): the slot
 * table is written once, then wasmStream decodes each stream (L lanes, at most maxW words), or
 * wasmStreams two or four of them (with `streams` = 2 and pairLanes(L), or 4 and quadLanes(L)), and
 * wasmRelease ends the session. Synchronous use only (one session at a time per thread).
 * @param {number} [streams=1]  how many streams the session has room for: 1, 2 or 4
 * @returns {object} the session
 */
export function wasmPrepare(cdf, P, vals, L, maxW, streams = 1, image = null) {
  const inst = getInstance();
  const V = cdf.length - 1;
  const sz = vals.BYTES_PER_ELEMENT;
  // 4-byte dtypes: the loops output the ids (2 bytes each), mapped to values when copied out.
  const stride = sz === 4 ? 2 : sz;
  const pad = 2 * (PAD_WORDS + L);
  const stageEntries = L >= STAGE ? L : Math.floor(STAGE / L) * L;
  const align8 = (x) => Math.ceil(x / 8) * 8;
  // Stream k's states at STATES_AT + k * ((4L + 15) & ~15) (for L = 8: 32 bytes apart, as decodeV4
  // takes them), its CTL at CTLS[k]; then each stream's words and padding, then each one's staging area.
  const stStep = (4 * L + 15) & ~15;
  // a row-group image (wasmImageBegin) lies between the states and the words
  let at = align8(Math.max(STATES_AT + (streams - 1) * stStep + 4 * L, image === null ? 0 : image.at + image.bytes));
  const slots = [];
  for (let k = 0; k < streams; k++) {
    slots.push({ stAt: STATES_AT + k * stStep, ctlAt: CTLS[k], wordsAt: at, stageAt: 0 });
    at = align8(at + 2 * maxW + pad);
  }
  for (const sl of slots) {
    sl.stageAt = at;
    at = align8(at + stageEntries * stride + 8);
  }
  // the table's inputs (cdf, value bits: u16s) go where the words will be loaded, after the table is built
  const tableIn = slots[0].wordsAt, valsIn = align8(tableIn + 2 * (V + 1));
  ensureMemory(inst, Math.max(at, valsIn + 2 * V));
  const ctx = { inst, cdf, P, L, V, sz, stride, pad, stageEntries, vals, slots };
  writeTable(inst, ctx, tableIn, valsIn);
  return ctx;
}

/** Decode one stream of n symbols (n >= 1; n < L is allowed: lanes past n are left as they are). */
export function wasmStream(ctx, states, words, W, n, out) {
  const sl = ctx.slots[0];
  const wlim = load(ctx, sl, states, words, W);
  return finish(ctx, sl, wlim, W, n, out, 0);
}

/**
 * Decode two or four independent streams ({states, words, W, n, out} each, as wasmStream's arguments;
 * the session prepared with at least that many streams, pairLanes(L) or quadLanes(L) true): the rows
 * they all have are decoded in one loop (decodeV2 or decodeV4), the rest of each alone. Returns their
 * results in order, as wasmStream's, except that after the first one whose status is not 'ok' the
 * results are null (those streams may be unfinished): a caller that checks the streams in order sees
 * what wasmStream calls one after the other give.
 */
export function wasmStreams(ctx, list) {
  const wlim = list.map((s, k) => load(ctx, ctx.slots[k], s.states, s.words, s.W));
  const done = commonRows(ctx, list, wlim, (k, stageAt, got, done) => copyOut(ctx, stageAt, got, list[k].out, done));
  return inOrder(list, (s, k) => finish(ctx, ctx.slots[k], wlim[k], s.W, s.n, s.out, done));
}

/**
 * The rows that all the loaded streams of `list` have (2 or 4 of them), decoded in one loop, stage by
 * stage, each stage handed to place(k, stageAt, got, done) per stream k; stops after an under-run.
 * Returns the entries of each stream done.
 */
function commonRows({ inst, P, L, stride, stageEntries, slots }, list, wlim, place) {
  const u32 = new Uint32Array(inst.mem.buffer);
  let rows = Infinity;
  for (const s of list) rows = Math.min(rows, s.n);
  rows -= rows % L; // entries of each, whole rows
  let done = 0;
  while (done < rows) {
    const cnt = Math.min(stageEntries, rows - done);
    const op = slots[0].stageAt;
    const reached = list.length === 4
      ? inst.quad(P, stride, op, op + cnt * stride, slots[1].stageAt, slots[2].stageAt, slots[3].stageAt, slots[0].stAt, wlim[0], wlim[1], wlim[2], wlim[3])
      : inst.pair(P, stride, op, op + cnt * stride, slots[1].stageAt, slots[0].stAt, slots[1].stAt, L, wlim[0], wlim[1]);
    const got = (reached - op) / stride;
    for (let k = 0; k < list.length; k++) place(k, slots[k].stageAt, got, done);
    done += got;
    if (underRun(u32, wlim)) break;
  }
  return done;
}

/** rest(s, k) for each stream in order, up to the first result whose status is not 'ok' (then nulls). */
function inOrder(list, rest) {
  const results = [];
  for (let k = 0; k < list.length; k++) {
    const r = rest(list[k], k);
    results.push(r);
    if (r.status !== 'ok') {
      while (results.length < list.length) results.push(null);
      break;
    }
  }
  return results;
}

/** True if any of the streams in CTLS[0 .. wlim.length) has read past its words (wp > wlim). */
function underRun(u32, wlim) {
  for (let k = 0; k < wlim.length; k++) if (u32[CTLS[k] >> 2] > wlim[k]) return true;
  return false;
}

export function wasmRelease(ctx) {
  if (held === 0 && ctx.inst.mem.buffer.byteLength > KEEP_BYTES && instance === ctx.inst) instance = null;
}

// ---- Row groups (spec section 7.4): the group tensors' rows decoded straight to their places ----
//
// decode() of a coding-2 tensor whose rows are whole rows of lanes (row symbols a multiple of L)
// reserves an image of the tensor's bytes in the module's memory (wasmImageBegin), decodes each
// group's sub-block with the loops writing each run of its rows where it lies in the tensor
// (wasmStreamRows: one loop call per run of rows adjacent in the tensor, instead of a stage copied
// out), and copies the image out once (wasmImageEnd): the same copies as a coding-0 block, where
// copying the group tensors out and then their rows to their places cost ~2x the copy-out.

let held = 0; // images in use: the instance (and its memory, with the image) is kept meanwhile

/**
 * Reserve `bytes` (+ 8 spare) of the module's memory for a tensor's image, after the lane states of
 * streams of at most Lmax lanes (four of them); wasmPrepare(..., image) lays out its words after it.
 * @returns {{at: number, bytes: number, inst: object}}
 */
export function wasmImageBegin(Lmax, bytes) {
  const inst = getInstance();
  const at = (STATES_AT + 4 * ((4 * Lmax + 15) & ~15) + 63) & ~63;
  ensureMemory(inst, at + bytes + 8);
  held++;
  return { at, bytes: bytes + 8, inst };
}

/** Copy the image's first out.byteLength bytes to `out` (null: none) and give the image up. */
export function wasmImageEnd(image, out) {
  held--;
  if (out !== null) new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(new Uint8Array(image.inst.mem.buffer, image.at, out.byteLength));
  if (held === 0 && image.inst.mem.buffer.byteLength > KEEP_BYTES && instance === image.inst) instance = null;
}

/**
 * Decode one stream (wasmStream's arguments; a session prepared with the image, 1- or 2-byte
 * values) into the image: runs[2i] is the image byte offset of run i, runs[2i + 1] its number of
 * symbols, a multiple of L (of 2 for L = 1), the runs' symbols adding up to n. Returns wasmStream's
 * result.
 */
export function wasmStreamRows(ctx, image, states, words, W, n, runs, at = { i: 0, off: 0 }) {
  const sl = ctx.slots[0];
  const wlim = load(ctx, sl, states, words, W);
  return rowsAlone(ctx, sl, wlim, W, image, runs, at.i, at.off, n);
}

/**
 * Where symbol s of a group tensor lies in its runs (as wasmStreamRows takes them): run index i
 * (into runs, a multiple of 2) and the symbols of that run before it (off).
 */
export function runsAt(runs, s) {
  let i = 0;
  while (i < runs.length && s >= runs[i + 1]) { s -= runs[i + 1]; i += 2; }
  return { i, off: s };
}

/**
 * `count` symbols of a loaded stream into the runs from run i (symbols of it done: off), with
 * rans.wat's loops, one call per run (or piece of one), then the stream's result as wasmStream's.
 */
function rowsAlone(ctx, sl, wlim, W, image, runs, i, off, count) {
  const { inst, P, L, stride } = ctx;
  const fn = inst.unrolled[L] ?? (L >= 5 ? inst.vector : inst.generic);
  const u32 = new Uint32Array(inst.mem.buffer);
  const u8 = new Uint8Array(inst.mem.buffer);
  if (sl.ctlAt !== CTL_AT) u32.copyWithin(CTL_AT >> 2, sl.ctlAt >> 2, (sl.ctlAt >> 2) + 3);
  while (count > 0 && u32[CTL_AT >> 2] <= wlim) {
    const k = Math.min(runs[i + 1] - off, count);
    const op = image.at + runs[i] + off * stride, oend = op + k * stride;
    // the loops store up to 4 bytes past oend (overwritten by the next entry's): the image's next
    // bytes may hold a row decoded before, so they are put back
    const k0 = u8[oend], k1 = u8[oend + 1], k2 = u8[oend + 2], k3 = u8[oend + 3];
    fn(P, stride, op, oend, wlim, sl.stAt, L);
    u8[oend] = k0; u8[oend + 1] = k1; u8[oend + 2] = k2; u8[oend + 3] = k3;
    count -= k;
    off += k;
    if (off === runs[i + 1]) { i += 2; off = 0; }
  }
  return check(ctx, sl, wlim, W);
}

/**
 * Two or four chunks of a group's sub-block (spec section 7.2; a session prepared with that many
 * streams and the image, pairLanes(L) or quadLanes(L)): `list` as wasmStreamRows's arguments
 * ({states, words, W, n, at} each, the group's runs shared). The rows they all have are decoded in
 * one loop (decodeV2 or decodeV4) into the staging areas and moved to their runs inside WebAssembly
 * memory, the rest of each alone in place. Returns their results as wasmStreams's.
 */
export function wasmStreamRowsMulti(ctx, image, runs, list) {
  const wlim = list.map((s, k) => load(ctx, ctx.slots[k], s.states, s.words, s.W));
  const u8 = new Uint8Array(ctx.inst.mem.buffer);
  const pos = list.map((s) => ({ ...s.at }));
  const done = commonRows(ctx, list, wlim, (k, stageAt, got) => placeStaged(u8, image, runs, pos[k], stageAt, got, ctx.stride));
  return inOrder(list, (s, k) => rowsAlone(ctx, ctx.slots[k], wlim[k], s.W, image, runs, pos[k].i, pos[k].off, s.n - done));
}

/** Move `got` staged symbols (at stageAt) to the runs from pos ({i, off}, advanced). */
function placeStaged(u8, image, runs, pos, stageAt, got, stride) {
  let { i, off } = pos;
  let src = stageAt;
  const end = stageAt + got * stride;
  while (src < end) {
    const k = Math.min(runs[i + 1] - off, (end - src) / stride);
    u8.copyWithin(image.at + runs[i] + off * stride, src, src + k * stride);
    src += k * stride;
    off += k;
    if (off === runs[i + 1]) { i += 2; off = 0; }
  }
  pos.i = i; pos.off = off;
}

/** Put a stream's states and words (then zeros) in place and reset its CTL; returns its wlim. */
function load({ inst, L, pad }, sl, states, words, W) {
  const buf = inst.mem.buffer;
  const u8 = new Uint8Array(buf);
  const u16 = new Uint16Array(buf);
  const u32 = new Uint32Array(buf);
  for (let j = 0; j < L; j++) u32[(sl.stAt >> 2) + j] = states[j];
  u16.set(words.subarray(0, W), sl.wordsAt >> 1);
  const wlim = sl.wordsAt + 2 * W;
  u8.fill(0, wlim, wlim + pad);
  u32[sl.ctlAt >> 2] = sl.wordsAt; u32[(sl.ctlAt >> 2) + 1] = 0; u32[(sl.ctlAt >> 2) + 2] = 0;
  return wlim;
}

/** Copy `got` staged entries to out[done ..] (4-byte dtypes: the ids mapped to values). */
function copyOut({ inst, sz, vals }, stageAt, got, out, done) {
  if (sz !== 4) {
    new Uint8Array(out.buffer, out.byteOffset + done * sz, got * sz).set(new Uint8Array(inst.mem.buffer, stageAt, got * sz));
  } else {
    const u16 = new Uint16Array(inst.mem.buffer);
    for (let i = 0, q = stageAt >> 1; i < got; i++) out[done + i] = vals[u16[q + i]];
  }
}

/**
 * Decode a loaded stream's entries [done, n) with rans.wat's loops (done: a whole number of rows,
 * the stream's CTL and states as the loops left them), then check it: the result of wasmStream.
 */
function finish(ctx, sl, wlim, W, n, out, done) {
  const { inst, P, L, stride, stageEntries } = ctx;
  const { stAt, stageAt } = sl;
  const u32 = new Uint32Array(inst.mem.buffer);
  if (sl.ctlAt !== CTL_AT) u32.copyWithin(CTL_AT >> 2, sl.ctlAt >> 2, (sl.ctlAt >> 2) + 3);
  const unit = L === 1 ? 2 : L; // decode1 takes two rows per iteration
  const full = n - (n % unit); // entries for the unrolled loops (the rest: decodeN)
  // L = 1, 2, 4: scalar loops with the states in locals; L >= 5: the SIMD loop (decodeV, four lanes
  // per v128; decode8 is decodeV for L = 8); L = 3: decodeN.
  const fn = inst.unrolled[L] ?? (L >= 5 ? inst.vector : undefined);
  let underrun = u32[CTL_AT >> 2] > wlim;
  while (done < n && !underrun) {
    const cnt = done < full ? Math.min(stageEntries, full - done) : n - done;
    const oend = stageAt + cnt * stride;
    const reached = done < full && fn !== undefined
      ? fn(P, stride, stageAt, oend, wlim, stAt, L)
      : inst.generic(P, stride, stageAt, oend, wlim, stAt, L);
    const got = (reached - stageAt) / stride;
    copyOut(ctx, stageAt, got, out, done);
    done += got;
    underrun = u32[CTL_AT >> 2] > wlim;
  }
  return check(ctx, sl, wlim, W);
}

/** The result of a stream whose loops are done: words read, final states (as wasmStream's). */
function check({ inst, L }, { stAt, wordsAt }, wlim, W) {
  const u32 = new Uint32Array(inst.mem.buffer);
  const k = (u32[CTL_AT >> 2] - wordsAt) / 2;
  const checksum = u32[(CTL_AT >> 2) + 2] >>> 6;
  if (k > W) return { checksum, status: 'underrun', wordsRead: k, lane: -1 };
  if (k < W) return { checksum, status: 'leftover', wordsRead: k, lane: -1 };
  for (let j = 0; j < L; j++) {
    if (u32[(stAt >> 2) + j] !== 0x10000) return { checksum, status: 'badFinalState', wordsRead: k, lane: j };
  }
  return { checksum, status: 'ok', wordsRead: k, lane: -1 };
}

function writeTable(inst, { cdf, V, sz, vals }, cdfAt, valsAt) {
  // Slot table: slot - c, f, value bits (4-byte dtypes: s), s per slot (8 bytes each, little-endian
  // u16s), built by rans.wat's table() from the CDF and the values' low 16 bits.
  const u16 = new Uint16Array(inst.mem.buffer);
  u16.set(cdf, cdfAt >> 1);
  if (sz !== 4) u16.set(vals, valsAt >> 1);  // Int8Array / Int16Array: their two's complement bits
  inst.table(V, cdfAt, valsAt, sz === 4 ? 1 : 0);
}
