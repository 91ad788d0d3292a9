// The seed notebook's WebGL layout (spec/FORMAT.md, Appendix A): M matrices of N = rows * cols
// entries, coded by N independent 12-bit rANS coders (one per entry, 16-bit words, 32-bit heads).
//
// Layout, all little-endian u16 words:
//   heads[2N]      coder of entry e: heads[2e] = high word, heads[2e+1] = low word (head >= 2^16)
//   sizes[2M]      section i's size in words: sizes[2i] | sizes[2i+1] << 16
//   section i      [data_offset = V+2, cdf[0..V] (0 ... 4096), data words]   (i = 0 ... M-1)
// Decoding matrix i: for e = 0 ... N-1 (row-major), a coder whose head is below 2^16 first takes
// the next word of section i's data (head = head << 16 | word); then it pops one symbol:
//   slot = x & 4095; s = symbol owning slot; x = f[s] * (x >> 12) + slot - cdf[s].
// After the last matrix every head is back at 0x00010001 (the notebook's AnsCoder(12, 16, [1, 1])).
// The layout holds symbol ids only (no values) and no checksums; we return FxHash26 of each
// matrix's ids (spec section 11), as the notebook printed them.
//
// Untrusted input: every size is checked against the buffer before use, nothing is allocated before
// the whole structure is validated, and the decoded size is bounded by options.maxEntries.

import { AnspackError } from './errors.js';
import { FX_MULTIPLIER } from './fxhash.js';
import { LITTLE_ENDIAN, countOption } from './header.js';

const TOTAL = 4096; // 2^12
const INITIAL_HEAD = 0x00010001;
/** Default limit on matrices * rows * cols (as the Python decoder's max_entries). */
export const SEED_DEFAULT_MAX_ENTRIES = 2 ** 32;
/** Largest N (coders) this implementation handles: typed-array lengths and int32 loop counters. */
const MAX_CODERS = 2 ** 31 - 1;

function positiveInt(name, v) {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new AnspackError('BadArgument', `${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function toWords(buffer) {
  let bytes;
  if (buffer instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer)) {
    bytes = new Uint8Array(buffer);
  } else if (ArrayBuffer.isView(buffer)) {
    bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } else {
    throw new AnspackError('BadArgument', 'buffer must be an ArrayBuffer or a typed array / DataView');
  }
  if (bytes.byteLength % 2 !== 0) {
    throw new AnspackError('Truncated', `the seed layout is made of 16-bit words, but the buffer has ${bytes.byteLength} bytes (odd)`, { offset: bytes.byteLength - 1 });
  }
  const n = bytes.byteLength / 2;
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  const w = new Uint16Array(n);
  for (let k = 0; k < n; k++) w[k] = bytes[2 * k] | (bytes[2 * k + 1] << 8);
  return w;
}

/**
 * Check the structure of a seed-layout buffer: heads, size table, sections and CDFs.
 * @returns {{N:number, M:number, heads:Int32Array, sectionStart:Float64Array, vocab:Int32Array,
 *   dataStart:Float64Array, dataSize:Float64Array, words:Uint16Array}}
 */
function parseSeedLayout(words, M, N) {
  const tableEnd = 2 * N + 2 * M;
  if (words.length < tableEnd) {
    throw new AnspackError('Truncated', `the coder heads and size table need ${2 * tableEnd} bytes, the buffer has ${2 * words.length}`, { offset: 2 * words.length });
  }
  const heads = new Int32Array(N);
  for (let e = 0; e < N; e++) {
    const hi = words[2 * e];
    if (hi === 0) {
      throw new AnspackError('BadModel', `coder head of entry ${e} is ${words[2 * e + 1]}, below 2^16`, { offset: 4 * e });
    }
    heads[e] = (hi << 16) | words[2 * e + 1];
  }
  const sectionStart = new Float64Array(M);
  const vocab = new Int32Array(M);
  const dataStart = new Float64Array(M);
  const dataSize = new Float64Array(M);
  let pos = tableEnd;
  for (let i = 0; i < M; i++) {
    const size = words[2 * N + 2 * i] + words[2 * N + 2 * i + 1] * 65536;
    if (size < 3) {
      throw new AnspackError('BadLayout', `section size of matrix ${i} is ${size}, at least 3 (data_offset, cdf[0], cdf[1])`, { offset: 2 * (2 * N + 2 * i) });
    }
    if (pos + size > words.length) {
      throw new AnspackError('Truncated', `section of matrix ${i} ends at byte ${2 * (pos + size)}, the buffer has ${2 * words.length}`, { offset: 2 * pos });
    }
    const dataOffset = words[pos];
    const V = dataOffset - 2;
    if (V < 1 || V > TOTAL || dataOffset > size) {
      throw new AnspackError('BadLayout', `data_offset of matrix ${i} is ${dataOffset}; expected V+2 with 1 <= V <= ${TOTAL} and at most the section size ${size}`, { offset: 2 * pos });
    }
    const c0 = pos + 1;
    if (words[c0] !== 0) {
      throw new AnspackError('BadModel', `cdf of matrix ${i} must start at 0 (cdf[0] = ${words[c0]})`, { offset: 2 * c0 });
    }
    for (let s = 1; s <= V; s++) {
      if (words[c0 + s] <= words[c0 + s - 1]) {
        throw new AnspackError('BadModel', `cdf of matrix ${i} must increase strictly (cdf[${s}] = ${words[c0 + s]} after ${words[c0 + s - 1]})`, { offset: 2 * (c0 + s) });
      }
    }
    if (words[c0 + V] !== TOTAL) {
      throw new AnspackError('BadModel', `cdf of matrix ${i} must end at ${TOTAL} (cdf[${V}] = ${words[c0 + V]})`, { offset: 2 * (c0 + V) });
    }
    sectionStart[i] = pos;
    vocab[i] = V;
    dataStart[i] = pos + dataOffset;
    dataSize[i] = size - dataOffset;
    pos += size;
  }
  if (pos !== words.length) {
    throw new AnspackError('SizeMismatch', `${2 * (words.length - pos)} bytes follow the last section`, { offset: 2 * pos });
  }
  return { heads, sectionStart, vocab, dataStart, dataSize };
}

/**
 * Decode a file in the seed notebook's WebGL layout (spec/FORMAT.md, Appendix A).
 *
 * @param {ArrayBuffer | ArrayBufferView} buffer  the whole file
 * @param {{rows: number, cols: number, matrices: number, maxEntries?: number}} options  the shape,
 *   which the layout does not store; maxEntries bounds matrices * rows * cols (default 2^32)
 * @returns {{ids: (Uint8Array|Uint16Array)[], checksums: number[]}} each matrix's symbol ids in
 *   row-major order (Uint8Array when it has at most 256 symbols) and their FxHash26 checksums
 * @throws {AnspackError} BadArgument, Truncated, SizeMismatch, BadLayout, BadModel, LimitExceeded,
 *   CorruptStream (a section's words run out or are left over, or a coder does not end at 0x10001)
 */
export function decodeSeedLayout(buffer, options) {
  if (options === null || typeof options !== 'object') {
    throw new AnspackError('BadArgument', 'options {rows, cols, matrices} are required: the layout does not store its shape');
  }
  const M = positiveInt('matrices', options.matrices);
  const rows = positiveInt('rows', options.rows);
  const cols = positiveInt('cols', options.cols);
  const maxEntries = countOption(options, 'maxEntries', SEED_DEFAULT_MAX_ENTRIES);
  const N = rows * cols;
  if (M * N > maxEntries) {
    throw new AnspackError('LimitExceeded', `${M} x ${rows} x ${cols} = ${M * N} entries exceed maxEntries = ${maxEntries}`);
  }
  if (N > MAX_CODERS) {
    throw new AnspackError('LimitExceeded', `${N} entries per matrix is above this decoder's limit of 2^31 - 1`);
  }
  const words = toWords(buffer);
  const lay = parseSeedLayout(words, M, N);

  const states = lay.heads; // decoded in place (Int32Array holding the u32 bit patterns)
  const sym = new Uint16Array(TOTAL); // slot -> symbol
  const step = new Int32Array(TOTAL); // slot -> f << 12 | (slot - cdf[s])
  const ids = [];
  const checksums = [];
  const result = new Float64Array(2); // [word cursor or -(entry + 1), checksum]
  for (let i = 0; i < M; i++) {
    const V = lay.vocab[i];
    const c0 = lay.sectionStart[i] + 1;
    for (let s = 0; s < V; s++) {
      const lo = words[c0 + s];
      const hi = words[c0 + s + 1];
      const f = (hi - lo) << 12;
      for (let slot = lo; slot < hi; slot++) {
        sym[slot] = s;
        step[slot] = f | (slot - lo);
      }
    }
    const out = V <= 256 ? new Uint8Array(N) : new Uint16Array(N);
    const start = lay.dataStart[i];
    const end = start + lay.dataSize[i];
    decodeMatrix(states, words, start, end, sym, step, out, N, result);
    const r = result[0];
    if (r < 0) {
      throw new AnspackError('CorruptStream', `matrix ${i}: the coder of entry ${-r - 1} needs a word after the section's last one`, { offset: 2 * end });
    }
    if (r !== end) {
      throw new AnspackError('CorruptStream', `matrix ${i}: ${end - r} of its ${end - start} data words are never read`, { offset: 2 * r });
    }
    ids.push(out);
    checksums.push(result[1]);
  }
  for (let e = 0; e < N; e++) {
    if (states[e] !== INITIAL_HEAD) {
      throw new AnspackError('CorruptStream', `the coder of entry ${e} ends at head 0x${(states[e] >>> 0).toString(16)}, expected 0x10001`, { offset: 4 * e });
    }
  }
  return { ids, checksums };
}

/**
 * Pop one matrix from all coders. Sets result[0] to the word cursor after the matrix, or to -(e + 1)
 * when the coder of entry e under-runs the section, and result[1] to FxHash26 of the ids.
 */
function decodeMatrix(states, words, start, end, sym, step, out, N, result) {
  let k = start;
  let h = 0;
  for (let e = 0; e < N; e++) {
    let x = states[e];
    if ((x >>> 16) === 0) {
      if (k === end) {
        result[0] = -(e + 1);
        return;
      }
      x = (x << 16) | words[k];
      k++;
    }
    const slot = x & 4095;
    const a = step[slot];
    x = (Math.imul(a >>> 12, x >>> 12) + (a & 4095)) | 0;
    states[e] = x;
    const s = sym[slot];
    out[e] = s;
    h = ((h & 0x1fffff) << 5) | (h >>> 21);
    h = Math.imul(h ^ s, FX_MULTIPLIER) & 0x3ffffff;
  }
  result[0] = k;
  result[1] = h;
}
