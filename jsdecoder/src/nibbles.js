// decode()'s `nibbles` option: int8 / uint8 tensors whose values fit in 4 bits, returned packed two
// entries a byte (entry 2i in the low nibble of byte i). Which tensors (returnsNibbles), the packing
// of decoded entries (packNibbles), and the packed byte of each pair value of a PAIRS block
// (nibbleValues), with which the decode loops write the packed bytes directly, one per symbol.

import { LITTLE_ENDIAN } from './header.js';

/**
 * Whether a tensor's values all fit in 4 bits (decode()'s `nibbles`): an int8 / uint8 tensor whose
 * stored values -- the vocabulary of its rANS block(s) (with PAIRS the two entries of each pair value;
 * with PRODUCT the entry values), or a raw block's bytes -- lie in [-8, 7] / [0, 15].
 */
export function fitsNibbles(bytes, t) {
  if (t.dtype !== 'int8' && t.dtype !== 'uint8') return false;
  const signed = t.dtype === 'int8';
  const fits = (a, n) => {
    for (let i = a; i < a + n; i++) {
      const b = bytes[i];
      if (signed ? b > 7 && b < 248 : b > 15) return false;
    }
    return true;
  };
  if (t.coding === 'raw') return fits(t.dataOffset, t.n);
  const blocks = t.coding === 'groups' ? t.groups : [t];
  return blocks.every((s) => fits(s.valuesOffset, s.pairs && !s.product ? 2 * s.vocabSize : s.vocabSize));
}

/**
 * Entries (an Int8Array / Uint8Array, each in [-8, 7] or [0, 15]) packed two a byte into `out` (a
 * Uint8Array of ceil(n / 2)), the even one in the low nibble. Four entries at a time where the arrays
 * allow it (a u32 of entries e0..e3, little-endian: its low nibbles y = x & 0x0f0f0f0f, and y | y >> 4
 * holds e0 | e1 << 4 in its byte 0 and e2 | e3 << 4 in its byte 2).
 */
export function packNibbles(entries, out) {
  const n = entries.length;
  let i = 0;
  if (LITTLE_ENDIAN && entries.byteOffset % 4 === 0 && out.byteOffset % 2 === 0 && n >= 4) {
    const quads = n >> 2;
    const src = new Uint32Array(entries.buffer, entries.byteOffset, quads);
    const dst = new Uint16Array(out.buffer, out.byteOffset, quads);
    for (let q = 0; q < quads; q++) {
      const y = src[q] & 0x0f0f0f0f;
      const z = y | (y >>> 4);
      dst[q] = (z & 0xff) | ((z >>> 8) & 0xff00);
    }
    i = 4 * quads;
  }
  for (; i + 1 < n; i += 2) out[i >> 1] = (entries[i] & 15) | ((entries[i + 1] & 15) << 4);
  if (n & 1) out[n >> 1] = entries[n - 1] & 15;
}

/**
 * decode()'s nibbles for a PAIRS block (fitsNibbles holds): each pair value (low byte = the even
 * entry) as its packed byte, so that the loops write one byte per symbol.
 */
export function nibbleValues(pairValues) {
  const vals = new Uint8Array(pairValues.length);
  for (let s = 0; s < vals.length; s++) vals[s] = (pairValues[s] & 15) | ((pairValues[s] >>> 4) & 0xf0);
  return vals;
}

/** The dtype a tensor of dtype int8 / uint8 is returned as when packed: 'int4' / 'uint4'. */
export function nibbleDtype(dtype) {
  return dtype === 'int8' ? 'int4' : 'uint4';
}

/**
 * Whether decode() (and every path that calls it) returns tensor t as nibbles under these options:
 * `nibbles` asked for, not returned dequantized, and its values fit (fitsNibbles).
 */
export function returnsNibbles(bytes, t, opts) {
  return opts.nibbles && !(opts.dequantize && t.dequantSize > 0) && fitsNibbles(bytes, t);
}
