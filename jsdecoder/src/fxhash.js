// FxHash26, the checksum of spec/FORMAT.md section 11.
//
//   h = 0
//   for each a:  h = rotl5_26(h);  h = ((h ^ a) * 0x03220A95) mod 2^26
//
// Math.imul gives the low 32 bits of the product, so its low 26 bits equal the exact product's for
// any a in [0, 2^32) (the xor is taken as int32: same low bits). Only the low 26 bits of h ^ a reach
// the result, so the format only ever hashes values below 2^16 (ids, u8 and u16 units). The decoder
// fuses these two lines into its hot loop (src/rans.js); this module is for callers and raw tensors.

import { AnspackError } from './errors.js';

/** The FxHash26 multiplier: the low 26 bits of rustc-hash's 64-bit FxHash constant. */
export const FX_MULTIPLIER = 0x03220a95;
/** 2^26 - 1. */
export const MASK26 = 0x3ffffff;

/**
 * FxHash26 of a sequence of integers in [0, 2^32), in order.
 * @param {ArrayLike<number> | Iterable<number>} ids
 * @returns {number} the checksum, in [0, 2^26)
 */
export function fxhash26(ids) {
  if (ids === null || ids === undefined) {
    throw new AnspackError('BadArgument', 'fxhash26 needs an array of integers');
  }
  if (ArrayBuffer.isView(ids) && !(ids instanceof DataView)) {
    if (ids instanceof Float32Array || ids instanceof Float64Array) {
      throw new AnspackError('BadArgument', 'fxhash26 needs integers, got a float array');
    }
    if (ids instanceof Int8Array || ids instanceof Int16Array || ids instanceof Int32Array) {
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] < 0) throw new AnspackError('BadArgument', `fxhash26 needs non-negative integers (index ${i})`);
      }
    }
    return fxhash26Typed(ids);
  }
  let h = 0;
  let i = 0;
  for (const a of Array.isArray(ids) ? ids : Array.from(ids)) {
    if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) {
      throw new AnspackError('BadArgument', `fxhash26 needs integers in [0, 2^32), got ${a} at index ${i}`);
    }
    h = ((h & 0x1fffff) << 5) | (h >>> 21);
    h = Math.imul(h ^ a, FX_MULTIPLIER) & MASK26;
    i++;
  }
  return h;
}

/**
 * FxHash26 of an unsigned typed array (Uint8Array, Uint16Array, Uint32Array; signed arrays are
 * hashed by value and must hold no negatives). No checks: the fast path for raw tensors.
 * @param {Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array} a
 * @returns {number}
 */
export function fxhash26Typed(a) {
  let h = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) {
    h = ((h & 0x1fffff) << 5) | (h >>> 21);
    h = Math.imul(h ^ a[i], FX_MULTIPLIER) & MASK26;
  }
  return h;
}

/**
 * FxHash26 of bytes[start, end) taken as u8 values, continuing from h (the header and block
 * checksums of spec section 11 chain several ranges this way).
 * @param {Uint8Array} bytes
 * @param {number} start
 * @param {number} end
 * @param {number} [h=0]
 * @returns {number}
 */
export function fxhash26Bytes(bytes, start, end, h = 0) {
  for (let i = start; i < end; i++) {
    h = ((h & 0x1fffff) << 5) | (h >>> 21);
    h = Math.imul(h ^ bytes[i], FX_MULTIPLIER) & MASK26;
  }
  return h;
}

/**
 * FxHash26 of bytes taken as little-endian u16 values (the raw-tensor checksum for 2- and 4-byte
 * dtypes, spec section 11), on any host. bytes.length must be even.
 * @param {Uint8Array} bytes
 * @returns {number}
 */
export function fxhash26Bytes16LE(bytes) {
  let h = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    h = ((h & 0x1fffff) << 5) | (h >>> 21);
    h = Math.imul(h ^ (bytes[i] | (bytes[i + 1] << 8)), FX_MULTIPLIER) & MASK26;
  }
  return h;
}
