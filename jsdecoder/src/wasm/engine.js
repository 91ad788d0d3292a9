// The WebAssembly rANS engine: drives the decode loops of rans.wat (compiled into rans_wasm.js) with
// the same inputs and result as decodeRans in ../rans.js, which stays the pure-JS reference engine.
//
// Per tensor: the slot table (with the values' bits), the lane states and the words are copied into
// the module's memory (grown as needed), the loops decode into a staging area of at most STAGE
// entries (a whole number of rows), and each stage is copied into the caller's output array (for
// 4-byte dtypes the loops write the ids, mapped to values here). The module (3.7 KB) is
// compiled synchronously on first use, which browsers allow on the main thread for modules < 4 KB;
// one instance per thread (window or worker) is kept and reused, and dropped again after a tensor
// that made its memory grow past KEEP_BYTES, so that a large file's memory can be reclaimed.

import { AnspackError } from '../errors.js';
import { RANS_WASM_BASE64 } from './rans_wasm.js';

// Memory layout: see the header of rans.wat.
const CTL_AT = 0x60000;
const STATES_AT = 0x60040;
/** Entries per call of a decode loop (whole rows); the output is copied out after each call. */
const STAGE = 1 << 16;
/** Words of zeros after the stream: what one block (4096 entries) or one row can read past it. */
const PAD_WORDS = 4096 + 16;
const PAGE = 65536;
/** Largest memory this engine asks for (the wasm32 limit is 4 GiB). */
const MAX_BYTES = 2 ** 32 - PAGE;
const KEEP_BYTES = 64 * 2 ** 20;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let compiled = null; // WebAssembly.Module, or false when unavailable
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
    instance = { mem: e.mem, unrolled: { 1: e.decode1, 2: e.decode2, 4: e.decode4, 8: e.decode8 }, vector: e.decodeV, generic: e.decodeN };
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
 * table is written once, then wasmStream decodes each stream (L lanes, at most maxW words) and
 * wasmRelease ends the session. Synchronous use only (one session at a time per thread).
 * @returns {object} the session
 */
export function wasmPrepare(cdf, P, vals, L, maxW) {
  const inst = getInstance();
  const V = cdf.length - 1;
  const sz = vals.BYTES_PER_ELEMENT;
  // 4-byte dtypes: the loops output the ids (2 bytes each), mapped to values when copied out.
  const stride = sz === 4 ? 2 : sz;
  const wordsAt = (STATES_AT + 4 * L + 7) & ~7;
  const pad = 2 * (PAD_WORDS + L);
  const stageEntries = L >= STAGE ? L : Math.floor(STAGE / L) * L;
  const stageAt = Math.ceil((wordsAt + 2 * maxW + pad) / 8) * 8;
  const need = stageAt + stageEntries * stride + 8;
  ensureMemory(inst, need);
  const ctx = { inst, cdf, P, L, V, sz, stride, wordsAt, pad, stageAt, stageEntries, vals };
  writeTable(inst, ctx);
  return ctx;
}

/** Decode one stream of n symbols (n >= 1; n < L is allowed: lanes past n are left as they are). */
export function wasmStream(ctx, states, words, W, n, out) {
  return run(ctx.inst, { ...ctx, states, words, W, n, wlim: ctx.wordsAt + 2 * W }, ctx.vals, out);
}

export function wasmRelease(ctx) {
  if (ctx.inst.mem.buffer.byteLength > KEEP_BYTES && instance === ctx.inst) instance = null;
}

function writeTable(inst, { cdf, V, sz, vals }) {
  const u16 = new Uint16Array(inst.mem.buffer);
  // Slot table: slot - c, f, value bits (4-byte dtypes: s), s per slot (8 bytes each).
  for (let s = 0; s < V; s++) {
    const c = cdf[s], f = cdf[s + 1] - c, v = sz === 4 ? s : vals[s] & 0xffff;
    for (let slot = c, q = 4 * c; slot < c + f; slot++, q += 4) {
      u16[q] = slot - c; u16[q + 1] = f; u16[q + 2] = v; u16[q + 3] = s;
    }
  }
}

function run(inst, m, vals, out) {
  const { states, words, W, P, n, L, sz, stride, wordsAt, wlim, pad, stageAt, stageEntries } = m;
  const buf = inst.mem.buffer;
  const u8 = new Uint8Array(buf);
  const u16 = new Uint16Array(buf);
  const i32 = new Int32Array(buf);
  const u32 = new Uint32Array(buf);
  for (let j = 0; j < L; j++) u32[(STATES_AT >> 2) + j] = states[j];
  u16.set(words.subarray(0, W), wordsAt >> 1);
  u8.fill(0, wlim, wlim + pad);
  i32[CTL_AT >> 2] = wordsAt; i32[(CTL_AT >> 2) + 1] = 0; i32[(CTL_AT >> 2) + 2] = 0;

  const outBytes = sz === 4 ? null : new Uint8Array(out.buffer, out.byteOffset, n * sz);
  const unit = L === 1 ? 2 : L; // decode1 takes two rows per iteration
  const full = n - (n % unit); // entries for the unrolled loops (the rest: decodeN)
  // L = 1, 2, 4: scalar loops with the states in locals; L >= 5: the SIMD loop (decodeV, four lanes
  // per v128; decode8 is decodeV for L = 8); L = 3: decodeN.
  const fn = inst.unrolled[L] ?? (L >= 5 ? inst.vector : undefined);
  let done = 0;
  let underrun = false;
  while (done < n && !underrun) {
    const cnt = done < full ? Math.min(stageEntries, full - done) : n - done;
    const oend = stageAt + cnt * stride;
    const reached = done < full && fn !== undefined
      ? fn(P, stride, stageAt, oend, wlim, STATES_AT, L)
      : inst.generic(P, stride, stageAt, oend, wlim, STATES_AT, L);
    const got = (reached - stageAt) / stride;
    if (outBytes !== null) {
      outBytes.set(u8.subarray(stageAt, stageAt + got * sz), done * sz);
    } else {
      for (let i = 0, q = stageAt >> 1; i < got; i++) out[done + i] = vals[u16[q + i]];
    }
    done += got;
    underrun = (i32[CTL_AT >> 2] >>> 0) > wlim;
  }
  const k = ((i32[CTL_AT >> 2] >>> 0) - wordsAt) / 2;
  const checksum = (i32[(CTL_AT >> 2) + 2] >>> 6);
  if (k > W) return { checksum, status: 'underrun', wordsRead: k, lane: -1 };
  if (k < W) return { checksum, status: 'leftover', wordsRead: k, lane: -1 };
  for (let j = 0; j < L; j++) {
    if (u32[(STATES_AT >> 2) + j] !== 0x10000) return { checksum, status: 'badFinalState', wordsRead: k, lane: j };
  }
  return { checksum, status: 'ok', wordsRead: k, lane: -1 };
}
