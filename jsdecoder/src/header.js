// Parsing and validation of an anspack file's header, tensor table, metadata and block layout
// (spec/FORMAT.md sections 3-8 and 12; the checks are the validity rules of section 13).
//
// Contract for untrusted input: every count, size and offset read here is checked against the
// actual length of the buffer before it is used, so a hostile file cannot make this module read
// outside the buffer or allocate more than O(file size) memory. Anything wrong throws an
// AnspackError whose `code` is a name from spec section 14 and whose message names the field, the
// byte offset, the tensor and the expected vs actual value.

import { AnspackError, withPrefix } from './errors.js';
import { fxhash26Bytes, fxhash26Typed } from './fxhash.js';

/** The 8-byte magic: \x89ANSPACK. */
export const MAGIC = Object.freeze([0x89, 0x41, 0x4e, 0x53, 0x50, 0x41, 0x43, 0x4b]);
export const HEADER_SIZE = 40;
export const ENTRY_FIXED_SIZE = 48;
export const RANS_HEADER_SIZE = 24;
/** rANS block mode bit 0 (spec section 7.1): each symbol is a pair of consecutive 1-byte entries. */
export const MODE_PAIRS = 1;
/**
 * rANS block mode bit 1 (spec section 7.3, revision 3; only with PAIRS): the stored vocabulary and CDF
 * are the model of the entries, and the pair model is derived from it (derivePairModel).
 */
export const MODE_PRODUCT = 2;
export const DEQUANT_HEADER_SIZE = 16;
/** Offset of header_checksum in the header, and of block_checksum in a table entry. */
export const HEADER_CHECKSUM_AT = 36;
export const BLOCK_CHECKSUM_AT = 44;
export const MAX_NDIM = 8;
/** State interval I = [2^16, 2^32) of the rANS coder (spec section 10). */
export const STATE_LOW = 0x10000;
/**
 * Default limit on the entries of one tensor (as the Python decoder's max_entries): a 200-byte file
 * can declare a single-valued tensor of 2^40 entries, so the size a file asks for is bounded before
 * anything is allocated. 2^28 entries = 256 MiB of int8, 1 GiB of float32.
 */
export const DEFAULT_MAX_ENTRIES = 2 ** 28;
/** Default limit on the entries decoded by one decode() call, summed over its tensors. */
export const DEFAULT_MAX_TOTAL_ENTRIES = 2 ** 30;

/** dtype code -> { name, size, rans (coding 0 allowed), unsigned typed array for its bit patterns } */
export const DTYPES = Object.freeze({
  1: Object.freeze({ name: 'int8', size: 1, rans: true }),
  2: Object.freeze({ name: 'uint8', size: 1, rans: true }),
  3: Object.freeze({ name: 'int16', size: 2, rans: true }),
  4: Object.freeze({ name: 'uint16', size: 2, rans: true }),
  5: Object.freeze({ name: 'int32', size: 4, rans: true }),
  6: Object.freeze({ name: 'uint32', size: 4, rans: true }),
  7: Object.freeze({ name: 'float16', size: 2, rans: false }),
  8: Object.freeze({ name: 'float32', size: 4, rans: false }),
});

/** Coding code (table entry offset 37) -> the name in TensorInfo.coding. */
export const CODING_NAMES = Object.freeze(['rans', 'raw', 'groups']);
/** Size of the fixed part of a row-group block (spec section 7.4): G and a reserved u32. */
export const GROUPS_HEADER_SIZE = 8;

/** True on little-endian hosts (all current browsers and node platforms). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const align8 = (x) => Math.ceil(x / 8) * 8;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Normalise the input to a Uint8Array whose byteOffset is a multiple of 8 (so that typed-array
 * views of blocks are aligned), copying only when the caller's view is misaligned.
 * @param {ArrayBuffer | SharedArrayBuffer | ArrayBufferView} buffer
 * @returns {Uint8Array}
 */
export function toBytes(buffer) {
  let bytes;
  if (buffer instanceof Uint8Array) bytes = buffer;
  else if (buffer instanceof ArrayBuffer ||
           (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer)) {
    bytes = new Uint8Array(buffer);
  } else if (ArrayBuffer.isView(buffer)) {
    bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } else {
    throw new AnspackError('BadArgument', `expected an ArrayBuffer or a Uint8Array, got ${Object.prototype.toString.call(buffer)}`);
  }
  if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice();
  return bytes;
}

/** Reads a u64 as a Number: exact below 2^53, and >= 2^53 (inexact) above. */
export function u64(dv, off) {
  return dv.getUint32(off + 4, true) * 0x100000000 + dv.getUint32(off, true);
}

export function fail(code, message, offset = null, tensor = null) {
  throw new AnspackError(code, message, { offset, tensor });
}

// The options checks shared by decode(), decodeStream / decodeAsync and decodeGPU (BadArgument).

/** The options argument of an entry point: an object. */
export function objectOption(options) {
  if (options === null || typeof options !== 'object') {
    throw new AnspackError('BadArgument', `options must be an object, got ${String(options)}`);
  }
}

/** options[name], or `dflt` when absent: a boolean. */
export function booleanOption(options, name, dflt) {
  const v = options[name] ?? dflt;
  if (typeof v !== 'boolean') throw new AnspackError('BadArgument', `${name} must be a boolean, got ${String(v)}`);
  return v;
}

/** options[name], or `dflt` when absent: a non-negative number. */
export function countOption(options, name, dflt) {
  const v = options[name] ?? dflt;
  if (typeof v !== 'number' || !(v >= 0)) throw new AnspackError('BadArgument', `${name} must be a non-negative number, got ${String(v)}`);
  return v;
}

function checkZeroBytes(bytes, start, end, what, tensor = null) {
  for (let p = start; p < end; p++) {
    if (bytes[p] !== 0) fail('ReservedNonZero', `${what}: byte is ${bytes[p]}, expected 0`, p, tensor);
  }
}

/**
 * Validate the first 40 bytes (spec section 3, section 13 rules 1-3; rule 2 only when the file's length is known). Shared by
 * parseHeader and the streaming parser of stream.js.
 * @param {Uint8Array} head  at least the first 40 bytes of the file, or all of a shorter file
 * @param {number | null} [actualLength]  the file's length, if known: then file_size is checked too
 * @returns {{fileSize: number, tensorCount: number, tableSize: number, metadataSize: number, prefixSize: number}}
 */
export function parseFixedHeader(head, actualLength = null) {
  for (let i = 0; i < 8 && i < head.length; i++) {
    if (head[i] !== MAGIC[i]) fail('BadMagic', `magic byte ${i} is 0x${head[i].toString(16)}, expected 0x${MAGIC[i].toString(16)} (not an anspack file)`, i);
  }
  if (head.length < HEADER_SIZE) fail('Truncated', `file is ${head.length} bytes, shorter than the 40-byte header`, head.length);
  const dv = new DataView(head.buffer, head.byteOffset, HEADER_SIZE);
  const version = dv.getUint32(8, true);
  if (version !== 1) fail('UnsupportedVersion', `version is ${version}, this decoder reads version 1`, 8);
  const flags = dv.getUint32(12, true);
  if (flags !== 0) fail('ReservedNonZero', `flags is ${flags}, expected 0`, 12);
  const headerChecksum = dv.getUint32(HEADER_CHECKSUM_AT, true);
  if (headerChecksum >= 0x4000000) fail('BadTable', `header_checksum 0x${headerChecksum.toString(16)} has bits above 26 set`, HEADER_CHECKSUM_AT);
  const fileSize = u64(dv, 16);
  if (actualLength !== null) {  // rule 2, when the file's length is known (e.g. from Content-Range)
    if (fileSize > actualLength) fail('Truncated', `file_size says ${fileSize} bytes but the file has ${actualLength}`, 16);
    if (fileSize < actualLength) fail('SizeMismatch', `file_size says ${fileSize} bytes but the file has ${actualLength} (trailing bytes)`, 16);
  }
  const tensorCount = dv.getUint32(24, true);
  const tableSize = dv.getUint32(28, true);
  const metadataSize = dv.getUint32(32, true);
  if (tableSize % 8 !== 0) fail('BadTable', `table_size ${tableSize} is not a multiple of 8`, 28);
  const prefixSize = HEADER_SIZE + tableSize + metadataSize;
  if (prefixSize > fileSize) fail('Truncated', `header + table (${tableSize} B) + metadata (${metadataSize} B) = ${prefixSize} bytes, beyond file_size (${fileSize} B)`, 28);
  if (tensorCount * ENTRY_FIXED_SIZE > tableSize) fail('BadTable', `tensor_count ${tensorCount} entries cannot fit in table_size ${tableSize} (at least 48 bytes each)`, 24);
  return { fileSize, tensorCount, tableSize, metadataSize, prefixSize, headerChecksum };
}

/**
 * Parse and validate everything that can be checked without decoding a stream: spec section 13,
 * rules 1-8, the layout of dequant blocks (rule 10 apart from the kind, which is checked when
 * dequantizing) and, with `verify` (default), the header checksum (rule 9). Allocates nothing
 * proportional to any declared size.
 *
 * @param {ArrayBuffer | ArrayBufferView} buffer
 * @param {{maxEntries?: number, verify?: boolean}} [options]
 * @returns {import('../index.d.ts').FileHeader}
 */
export function parseHeader(buffer, options = {}) {
  const bytes = toBytes(buffer);
  const verify = options.verify ?? true;
  const maxEntries = countOption(options, 'maxEntries', DEFAULT_MAX_ENTRIES);
  const length = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, length);

  // Rules 1-3: magic, version, flags, reserved fields, file_size, table and metadata extents.
  const { fileSize, tensorCount, tableSize, metadataSize, headerChecksum } = parseFixedHeader(bytes, length);
  const version = 1; // parseFixedHeader rejects every other version
  const tableEnd = HEADER_SIZE + tableSize;
  const metaEnd = tableEnd + metadataSize;

  // Rule 4: the tensor table entries.
  const tensors = parseEntries(bytes, dv, tensorCount, tableEnd, maxEntries);

  // Rule 5: metadata.
  const metadata = parseMetadata(bytes, tableEnd, metaEnd);


  // Rule 6: block placement (section 6), padding zero, file ends at the last block. For each tensor:
  // its offset, its extent, then the padding before it; the same for its dequant block, whose
  // 16-byte header (rule 10 apart from the kind, checked when dequantizing) is read right away.
  let end = metaEnd;
  let prevEnd = metaEnd;
  let cursor = align8(metaEnd);
  for (const t of tensors) {
    if (t.dataOffset !== cursor) fail('BadLayout', `data_offset is ${t.dataOffset}, expected ${cursor}`, t.entryOffset, t.name);
    if (t.dataSize > length - cursor) fail('BadLayout', `data block [${cursor}, ${cursor + t.dataSize}) extends past the end of the file (${length})`, t.entryOffset + 8, t.name);
    checkZeroBytes(bytes, prevEnd, cursor, 'padding before a data block', t.name);
    cursor += t.dataSize;
    if (t.dequantSize > 0) {
      const q = align8(cursor);
      if (t.dequantOffset !== q) fail('BadLayout', `dequant_offset is ${t.dequantOffset}, expected ${q}`, t.entryOffset + 16, t.name);
      if (t.dequantSize > length - q) fail('BadLayout', `dequant block [${q}, ${q + t.dequantSize}) extends past the end of the file (${length})`, t.entryOffset + 24, t.name);
      checkZeroBytes(bytes, cursor, q, 'padding before a dequant block', t.name);
      checkDequantHeader(bytes, dv, t);
      cursor = q + t.dequantSize;
    } else if (t.dequantOffset !== 0) {
      fail('BadLayout', `dequant_offset is ${t.dequantOffset} but dequant_size is 0 (expected both 0)`, t.entryOffset + 16, t.name);
    }
    end = prevEnd = cursor;
    cursor = align8(cursor);
  }
  if (end !== length) fail('BadLayout', `the last block ends at ${end} but the file is ${length} bytes long`, end);

  // Rules 7-8: raw block sizes, rANS block headers and models.
  for (const t of tensors) {
    if (t.coding === 'raw') {
      if (t.dataSize !== t.n * t.itemSize) fail('BadLayout', `raw data_size is ${t.dataSize}, expected n * ${t.itemSize} = ${t.n * t.itemSize}`, t.entryOffset + 8, t.name);
    } else if (t.coding === 'groups') {
      Object.assign(t, parseGroupsBlock(bytes, dv, t));
    } else {
      Object.assign(t, parseRansBlock(bytes, dv, t));
    }
  }

  // Rule 9, first part: the header checksum, once the structure is known to be sound.
  if (verify) {
    let h = fxhash26Bytes(bytes, 0, HEADER_CHECKSUM_AT, 0);
    h = fxhash26Bytes(ZERO4, 0, 4, h);
    h = fxhash26Bytes(bytes, HEADER_CHECKSUM_AT + 4, metaEnd, h);
    if (h !== headerChecksum) fail('ChecksumMismatch', `header_checksum: header, table and metadata hash to 0x${h.toString(16)}, the header says 0x${headerChecksum.toString(16)}`, HEADER_CHECKSUM_AT);
  }

  return { version, fileSize, tensorCount, tableSize, metadataSize, headerChecksum, metadata, tensors, bytes };
}

const ZERO4 = new Uint8Array(4);

/**
 * Spec section 13 rule 4: the tensor table entries in [40, tableEnd), validated (shared by
 * parseHeader and the streaming parser of stream.js, which has only the file's prefix).
 * @returns {object[]} per tensor: name, shape, n, dtype, dtypeCode, itemSize, coding, codingCode,
 *   checksum, blockChecksum, dataOffset, dataSize, dequantOffset, dequantSize, entryOffset, entrySize
 */
export function parseEntries(bytes, dv, tensorCount, tableEnd, maxEntries) {
  const tensors = [];
  const names = new Set();
  let p = HEADER_SIZE;
  for (let t = 0; t < tensorCount; t++) {
    const entry = p;
    if (entry + ENTRY_FIXED_SIZE > tableEnd) fail('BadTable', `entry ${t} starts at ${entry} but the table ends at ${tableEnd}`, entry);
    const dataOffset = u64(dv, entry);
    const dataSize = u64(dv, entry + 8);
    const dequantOffset = u64(dv, entry + 16);
    const dequantSize = u64(dv, entry + 24);
    const checksum = dv.getUint32(entry + 32, true);
    const dtypeCode = bytes[entry + 36];
    const codingCode = bytes[entry + 37];
    const ndim = bytes[entry + 38];
    const nameLen = dv.getUint16(entry + 40, true);
    const label = `entry ${t}`;
    if (ndim > MAX_NDIM) fail('BadTable', `${label}: ndim is ${ndim}, at most 8 allowed`, entry + 38);
    const nameStart = entry + ENTRY_FIXED_SIZE + 8 * ndim;
    const entryEnd = nameStart + align8(nameLen);
    if (entryEnd > tableEnd) fail('BadTable', `${label}: entry ends at ${entryEnd}, beyond the end of the table (${tableEnd})`, entry + 40);
    if (nameLen < 1) fail('BadTable', `${label}: name_len is 0, expected at least 1`, entry + 40);
    let name;
    try {
      name = utf8.decode(bytes.slice(nameStart, nameStart + nameLen));
    } catch (e) {
      fail('BadTable', `${label}: name is not valid UTF-8`, nameStart);
    }
    if (names.has(name)) fail('BadTable', `${label}: duplicate tensor name`, nameStart, name);
    names.add(name);
    const dtype = DTYPES[dtypeCode];
    if (dtype === undefined) fail('BadTable', `dtype code is ${dtypeCode}, expected 1..8`, entry + 36, name);
    if (codingCode > 2) fail('BadTable', `coding is ${codingCode}, expected 0 (rANS), 1 (raw) or 2 (rANS in row groups)`, entry + 37, name);
    if (codingCode !== 1 && !dtype.rans) fail('BadTable', `coding ${codingCode} (${codingCode === 0 ? 'rANS' : 'row groups'}) is not allowed for dtype ${dtype.name}`, entry + 37, name);
    if (bytes[entry + 39] !== 0) fail('ReservedNonZero', `entry reserved byte is ${bytes[entry + 39]}, expected 0`, entry + 39, name);
    if (dv.getUint16(entry + 42, true) !== 0) fail('ReservedNonZero', `entry reserved u16 is ${dv.getUint16(entry + 42, true)}, expected 0`, entry + 42, name);
    if (checksum >= 0x4000000) fail('BadTable', `checksum 0x${checksum.toString(16)} has bits above 26 set`, entry + 32, name);
    const blockChecksum = dv.getUint32(entry + BLOCK_CHECKSUM_AT, true);
    if (blockChecksum >= 0x4000000) fail('BadTable', `block_checksum 0x${blockChecksum.toString(16)} has bits above 26 set`, entry + BLOCK_CHECKSUM_AT, name);
    checkZeroBytes(bytes, nameStart + nameLen, entryEnd, 'name padding', name);

    const shape = [];
    let n = 1;
    let zero = false;
    for (let d = 0; d < ndim; d++) {
      const dim = u64(dv, entry + ENTRY_FIXED_SIZE + 8 * d);
      if (dim >= 2 ** 53) fail('LimitExceeded', `dimension ${d} is 2^53 or more`, entry + ENTRY_FIXED_SIZE + 8 * d, name);
      shape.push(dim);
      if (dim === 0) zero = true;
      else n *= dim;
    }
    if (zero) n = 0;
    else if (n >= 2 ** 53) fail('LimitExceeded', `shape [${shape.join(', ')}] has 2^53 entries or more`, entry + ENTRY_FIXED_SIZE, name);
    if (n > maxEntries) fail('LimitExceeded', `shape [${shape.join(', ')}] has ${n} entries, above the limit maxEntries = ${maxEntries}`, entry + ENTRY_FIXED_SIZE, name);
    // Coding 2 (spec section 7.4): rows of the first dimension, at least two, and some entries.
    if (codingCode === 2 && (ndim === 0 || n === 0 || shape[0] < 2)) {
      fail('BadTable', `coding 2 (row groups) needs ndim >= 1, n > 0 and shape[0] >= 2 rows, the shape is [${shape.join(', ')}]`, entry + 37, name);
    }

    tensors.push({
      name, shape, n, dtype: dtype.name, dtypeCode, itemSize: dtype.size,
      coding: CODING_NAMES[codingCode], codingCode, checksum, blockChecksum,
      dataOffset, dataSize, dequantOffset, dequantSize, entryOffset: entry, entrySize: entryEnd - entry,
    });
    p = entryEnd;
  }
  if (p !== tableEnd) fail('BadTable', `the ${tensorCount} entries end at ${p} but table_size says the table ends at ${tableEnd}`, p);
  return tensors;
}

/** Spec section 5 / rule 5: the metadata JSON in [start, end) (an empty object when there is none). */
export function parseMetadata(bytes, start, end) {
  if (end === start) return {};
  let text, metadata;
  try {
    text = utf8.decode(bytes.slice(start, end));
  } catch (e) {
    fail('BadMetadata', 'metadata is not valid UTF-8', start);
  }
  try {
    metadata = JSON.parse(text);
  } catch (e) {
    fail('BadMetadata', `metadata is not valid JSON (${e.message})`, start);
  }
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    fail('BadMetadata', `metadata's top-level value is ${Array.isArray(metadata) ? 'an array' : String(metadata === null ? 'null' : typeof metadata)}, expected an object`, start);
  }
  return metadata;
}

/**
 * The block checksum of a tensor (spec section 11): its data block's bytes before the words (rANS;
 * none for raw), then its dequant block's bytes, as one FxHash26 over u8 values.
 */
export function blockChecksum(bytes, t) {
  let h;
  if (t.coding === 'groups') {
    // Spec section 11, coding 2: every byte of the data block but the sub-blocks' words, in file
    // order: group header, row map and padding; each sub-block's bytes before its words, the padding after it.
    h = fxhash26Bytes(bytes, t.dataOffset, t.groups[0].dataOffset, 0);
    t.groups.forEach((g, i) => {
      h = fxhash26Bytes(bytes, g.dataOffset, g.wordsOffset, h);
      const next = i + 1 < t.groups.length ? t.groups[i + 1].dataOffset : g.dataOffset + g.dataSize;
      h = fxhash26Bytes(bytes, g.dataOffset + g.dataSize, next, h);
    });
  } else {
    const side = t.coding === 'rans' ? t.dataSize - 2 * t.words : 0;
    h = fxhash26Bytes(bytes, t.dataOffset, t.dataOffset + side, 0);
  }
  return fxhash26Bytes(bytes, t.dequantOffset, t.dequantOffset + t.dequantSize, h);
}

/**
/** The 16-byte dequant block header (spec section 12): reserved zero, body_size consistent. */
function checkDequantHeader(bytes, dv, t) {
  const o = t.dequantOffset;
  if (t.dequantSize < DEQUANT_HEADER_SIZE) fail('BadDequant', `dequant_size is ${t.dequantSize}, smaller than the 16-byte dequant header`, o, t.name);
  t.dequantKind = dv.getUint32(o, true);
  if (dv.getUint32(o + 4, true) !== 0) fail('ReservedNonZero', `dequant reserved field is ${dv.getUint32(o + 4, true)}, expected 0`, o + 4, t.name);
  const bodySize = u64(dv, o + 8);
  if (bodySize + DEQUANT_HEADER_SIZE !== t.dequantSize) fail('BadDequant', `body_size is ${bodySize}, expected dequant_size - 16 = ${t.dequantSize - 16}`, o + 8, t.name);
}

/** Per integer dtype: its typed array and a little-endian reader of one value (spec section 7). */
const VALUE_TYPES = {
  int8: { Ctor: Int8Array, get: (dv, o) => dv.getInt8(o) },
  uint8: { Ctor: Uint8Array, get: (dv, o) => dv.getUint8(o) },
  int16: { Ctor: Int16Array, get: (dv, o) => dv.getInt16(o, true) },
  uint16: { Ctor: Uint16Array, get: (dv, o) => dv.getUint16(o, true) },
  int32: { Ctor: Int32Array, get: (dv, o) => dv.getInt32(o, true) },
  uint32: { Ctor: Uint32Array, get: (dv, o) => dv.getUint32(o, true) },
};

/**
 * Read the model and tables of a validated coding-0 block (spec section 7): lane states (L per chunk),
 * the coder's model (ransModel: CDF and vocabulary, u16 pair values with PAIRS, section 7.1, derived
 * from the entry model with PRODUCT, section 7.3), chunk tables (section 7.2) and a view
 * of the words (W + 1 words in place when the file has 2 more bytes there: the loops read one word
 * past a stream's last, never used by a valid stream).
 */
export function ransArrays(bytes, t) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const L = t.lanes, W = t.words, K = t.chunks;
  const states = new Uint32Array(L * K);
  for (let j = 0; j < L * K; j++) states[j] = dv.getUint32(t.statesOffset + 4 * j, true);
  const { cdf, vals } = ransModel(bytes, t);
  const { chunkWords = null, chunkChecksums = null, tableChecksum = null } = t.chunkSize > 0 ? chunkTables(dv, t) : {};
  let words;
  let padded = false;
  if (LITTLE_ENDIAN) {
    padded = t.wordsOffset + 2 * W + 2 <= bytes.length;
    words = new Uint16Array(bytes.buffer, bytes.byteOffset + t.wordsOffset, W + (padded ? 1 : 0));
  } else {
    words = new Uint16Array(W);
    for (let k = 0; k < W; k++) words[k] = dv.getUint16(t.wordsOffset + 2 * k, true);
  }
  return {
    states, L, words, padded, cdf, P: t.precision, n: t.symbols, chunk: t.chunkSize, chunkWords, chunkChecksums, tableChecksum, vals,
  };
}

/**
 * The coder's model of a validated coding-0 block with V > 0: `cdf` (the A + 1 cumulative
 * frequencies of its A symbol ids) and `vals` (what each symbol id decodes to: the dtype's typed
 * array, or with PAIRS a Uint16Array of u16 pair values, section 7.1). Read from the file, or with
 * PRODUCT (section 7.3) derived from the stored entry model: A = V^2 pair ids.
 */
export function ransModel(bytes, t) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const V = t.vocabSize;
  const cdf = new Uint16Array(V + 1);
  for (let s = 0; s <= V; s++) cdf[s] = dv.getUint16(t.cdfOffset + 2 * s, true);
  let vals;
  if (t.product) {
    return derivePairModel(cdf, bytes.subarray(t.valuesOffset, t.valuesOffset + V), t.precision);
  } else if (t.pairs) {
    vals = new Uint16Array(V);
    for (let s = 0; s < V; s++) vals[s] = dv.getUint16(t.valuesOffset + 2 * s, true);
  } else {
    const { Ctor, get } = VALUE_TYPES[t.dtype];
    vals = new Ctor(V);
    for (let s = 0; s < V; s++) vals[s] = get(dv, t.valuesOffset + t.itemSize * s);
  }
  return { cdf, vals };
}

/**
 * Spec section 7.3: the pair model of a PRODUCT block from its entry model (a validated CDF of V + 1
 * values at precision P, V^2 <= 2^P, and the V entry values as bytes). Pair id s = a*V + b decodes to
 * entries values[a], values[b]: the u16 pair value values[a] | values[b] << 8 (section 7.1). Its
 * frequency is section 9's steps 2-4 applied to c[s] = g[a] * g[b] with n = 2^(2P):
 * round_half_even(c / 2^P), at least 1, then the fix-up of step 3 over s = 0 .. V^2 - 1.
 *
 * Step 3's d > 0 loop is computed without replaying its passes one by one (a hostile file could make
 * that ~2^30 steps: one symbol above 1 and ~2^15 passes over 2^15 ids); the result is the same. A
 * full pass takes 1 from every f > 1, so after p full passes f[s] = f0[s] - min(p, f0[s] - 1) and
 * D(p) = sum of min(p, f0[s] - 1) has been taken. With p the largest count of full passes with
 * D(p) <= d (binary search: D is non-decreasing, and D(max f0 - 1) = 2^P + d - V^2 >= d), the rest,
 * d - D(p) < #{s : f0[s] - 1 > p}, is the partial pass p + 1, in id order. src/reference.js has the
 * passes as the spec writes them; the tests check that both agree.
 *
 * @param {ArrayLike<number>} entryCdf  V + 1 cumulative entry frequencies
 * @param {ArrayLike<number>} entryValues  the V entry values' bytes (int8 as its two's complement)
 * @param {number} P
 * @returns {{cdf: Uint16Array, vals: Uint16Array}}  V^2 + 1 and V^2 values
 */
export function derivePairModel(entryCdf, entryValues, P) {
  const V = entryCdf.length - 1;
  const A = V * V;
  const M = 2 ** P;
  const half = M / 2;
  const f = new Int32Array(A);
  let sum = 0;
  let fmax = 1;
  for (let a = 0; a < V; a++) {
    const ga = entryCdf[a + 1] - entryCdf[a];
    for (let b = 0; b < V; b++) {
      const c = ga * (entryCdf[b + 1] - entryCdf[b]);  // < 2^30: exact in int32 arithmetic
      const q = c >>> P, r = c & (M - 1);
      let x = r > half || (r === half && (q & 1) === 1) ? q + 1 : q;
      if (x < 1) x = 1;
      f[a * V + b] = x;
      sum += x;
      if (x > fmax) fmax = x;
    }
  }
  let d = sum - M;
  if (d > 0) {
    // p by galloping from 1, then bisecting (d is mostly below V^2, so p is mostly 0 or 1: a few passes
    // instead of log2(max f0) of them; ~2x faster for MiniLM's 15-value groups, one model per group)
    let lo = 0, hi = 1;  // D(lo) <= d; p in [lo, hi]
    while (hi < fmax - 1 && pairTaken(f, hi) <= d) { lo = hi; hi = Math.min(2 * hi, fmax - 1); }
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (pairTaken(f, mid) <= d) lo = mid;
      else hi = mid - 1;
    }
    const p = lo;
    if (p > 0) {
      d -= pairTaken(f, p);
      for (let s = 0; s < A; s++) { const x = f[s] - 1; f[s] -= x < p ? x : p; }
    }
    for (let s = 0; s < A && d > 0; s++) if (f[s] > 1) { f[s]--; d--; }
  }
  while (d < 0) for (let s = 0; s < A && d < 0; s++) { f[s]++; d++; }
  const cdf = new Uint16Array(A + 1);
  for (let s = 0; s < A; s++) cdf[s + 1] = cdf[s] + f[s];
  const vals = new Uint16Array(A);
  for (let a = 0; a < V; a++) {
    for (let b = 0; b < V; b++) vals[a * V + b] = (entryValues[a] & 0xff) | ((entryValues[b] & 0xff) << 8);
  }
  return { cdf, vals };
}

/** derivePairModel's D(p): what p full passes of section 9's step 3 take, sum of min(p, f0[s] - 1). */
function pairTaken(f, p) {
  let D = 0;
  for (let s = 0; s < f.length; s++) { const x = f[s] - 1; D += x < p ? x : p; }
  return D;
}

/**
 * A chunked tensor's (spec section 7.2) `chunk_words` and `chunk_checksums`, as Uint32Arrays of K
 * (validated by parseRansBlock), and `tableChecksum`: the FxHash26 of the stored chunk checksums that
 * the table's checksum must equal (section 11).
 */
export function chunkTables(dv, t) {
  const K = t.chunks;
  const chunkWords = new Uint32Array(K);
  const chunkChecksums = new Uint32Array(K);
  for (let k = 0; k < K; k++) {
    chunkWords[k] = dv.getUint32(t.chunkTableOffset + 4 * k, true);
    chunkChecksums[k] = dv.getUint32(t.chunkTableOffset + 4 * K + 4 * k, true);
  }
  return { chunkWords, chunkChecksums, tableChecksum: fxhash26Typed(chunkChecksums) };
}

/**
 * Parse and validate a row-group data block (spec section 7.4, revision 4; section 13 rule 7): G,
 * the reserved field, group_sizes (each sub-block inside the block where section 7.4 places it, the
 * block ending with the last one), group_checksums (< 2^26), the row map (bits above R*b zero, every
 * row's group < G, no empty group), the padding, and each sub-block as a coding-0 block of its group
 * tensor's n_g = R_g * C entries (parseRansBlock; its errors say "group g: "). Everything is bounded
 * by the block's size before it sizes anything: G <= 256, and the map's ceil(R*b/8) bytes must fit
 * in the block before the R-byte map is allocated.
 *
 * Returns `groups` (per sub-block a coding-0-like tensor info: name, dtype, n = n_g, shape
 * [R_g, ...], dataOffset, dataSize, checksum = group_checksums[g], checksumOffset, sizeOffset, group:
 * g, rows: R_g, and parseRansBlock's fields), `rowMap` (Uint8Array of R group ids), `groupStart`
 * (G + 1: group g's rows are rows groupStart[g] .. groupStart[g + 1] - 1 of the group tensors back
 * to back; the row indexes, groups.js rowIndex, are built when decoding), `rowSize` C, `groupCount`
 * G, `mapBits` b, `groupChecksums` (Uint32Array, stored) and `tableChecksum` (their FxHash26: what
 * the table's checksum must equal, section 11).
 */
function parseGroupsBlock(bytes, dv, t) {
  const o = t.dataOffset;
  const size = t.dataSize;
  const name = t.name;
  const R = t.shape[0];
  const C = t.n / R;
  if (size < GROUPS_HEADER_SIZE) fail('BadModel', `row-group data_size is ${size}, smaller than the 8-byte group header`, t.entryOffset + 8, name);
  const G = dv.getUint32(o, true);
  const maxG = Math.min(R, 256);
  if (G < 2 || G > maxG) fail('BadModel', `G is ${G} groups, expected 2..min(R, 256) = ${maxG} (R = ${R} rows)`, o, name);
  if (dv.getUint32(o + 4, true) !== 0) fail('ReservedNonZero', `row-group reserved u32 is ${dv.getUint32(o + 4, true)}, expected 0`, o + 4, name);
  const b = 32 - Math.clz32(G - 1);  // bits per row: the bit length of G - 1
  const sizesAt = o + 8, sumsAt = o + 8 + 8 * G, mapAt = o + 8 + 12 * G;
  const M = Math.ceil((R * b) / 8);  // R < 2^53: R * b is exact
  if (12 * G + M > size - 8) fail('BadModel', `data_size is ${size}, too small for the group header and row map (8 + 12G + ceil(R*b/8) = ${8 + 12 * G + M} bytes; G = ${G}, R = ${R}, b = ${b})`, t.entryOffset + 8, name);
  const H = align8(8 + 12 * G + M);
  // Placement of the sub-blocks: O_0 = H, O_g = align8(O_(g-1) + S_(g-1)), each inside the block.
  const offsets = new Array(G);
  const sizes = new Array(G);
  let at = H;
  for (let g = 0; g < G; g++) {
    if (g > 0) at = align8(at + sizes[g - 1]);
    const S = u64(dv, sizesAt + 8 * g);
    if (at > size || S > size - at) fail('BadModel', `group ${g}: sub-block [${at}, ${at + S}) (block offsets) runs past the end of the data block (${size} bytes)`, sizesAt + 8 * g, name);
    offsets[g] = at;
    sizes[g] = S;
  }
  const end = offsets[G - 1] + sizes[G - 1];
  if (end !== size) fail('BadModel', `data_size is ${size}, but the last sub-block (group ${G - 1}) ends at ${end}: the block must end there`, t.entryOffset + 8, name);
  const groupChecksums = new Uint32Array(G);
  for (let g = 0; g < G; g++) {
    const c = dv.getUint32(sumsAt + 4 * g, true);
    if (c >= 0x4000000) fail('BadModel', `group_checksums[${g}] is 0x${c.toString(16)}: bits above 26 set`, sumsAt + 4 * g, name);
    groupChecksums[g] = c;
  }
  // The row map: M bytes, row r's group in bits r*b .. r*b + b - 1 (least significant bit first).
  const used = (R * b) % 8;
  if (used !== 0 && bytes[mapAt + M - 1] >> used !== 0) {
    fail('ReservedNonZero', `row map: the bits above R*b = ${R * b} (bits ${used}-7 of its last byte) are 0x${(bytes[mapAt + M - 1] >> used).toString(16)}, expected 0`, mapAt + M - 1, name);
  }
  if (R > 2 ** 31 - 1) fail('LimitExceeded', `${R} rows is above this decoder's limit of 2^31 - 1`, t.entryOffset + ENTRY_FIXED_SIZE, name);
  const rowMap = new Uint8Array(R);  // R <= 8M / b <= 8 * data_size
  const mask = (1 << b) - 1;
  let bad = -1;
  if (8 % b === 0) {
    // b = 1, 2, 4, 8: 2^sh rows per byte, none across two bytes
    const sh = 3 - Math.log2(b), within = (1 << sh) - 1;
    for (let r = 0; r < R; r++) {
      const g = (bytes[mapAt + (r >>> sh)] >>> ((r & within) * b)) & mask;
      rowMap[r] = g;
      if (g >= G && bad < 0) bad = r;
    }
  } else {
    for (let r = 0, p = 0; r < R; r++, p += b) {
      const byte = p >>> 3;
      const two = bytes[mapAt + byte] | (byte + 1 < M ? bytes[mapAt + byte + 1] << 8 : 0);
      const g = (two >>> (p & 7)) & mask;
      rowMap[r] = g;
      if (g >= G && bad < 0) bad = r;
    }
  }
  if (bad >= 0) fail('BadModel', `row map: row ${bad} is in group ${rowMap[bad]}, expected below G = ${G}`, mapAt + Math.floor((bad * b) / 8), name);
  const counts = new Float64Array(G);
  for (let r = 0; r < R; r++) counts[rowMap[r]]++;
  for (let g = 0; g < G; g++) {
    if (counts[g] === 0) fail('BadModel', `row map: group ${g} owns no row (every group must own at least one)`, mapAt, name);
  }
  checkZeroBytes(bytes, mapAt + M, o + H, 'padding after the row map', name);
  for (let g = 1; g < G; g++) checkZeroBytes(bytes, o + offsets[g - 1] + sizes[g - 1], o + offsets[g], `padding before the sub-block of group ${g}`, name);
  // group g's rows are rows groupStart[g] .. groupStart[g + 1] - 1 of the group tensors back to back
  const groupStart = new Float64Array(G + 1);
  for (let g = 0; g < G; g++) groupStart[g + 1] = groupStart[g] + counts[g];
  // Each sub-block: a coding-0 block of its group tensor (section 7 in full).
  const groups = [];
  for (let g = 0; g < G; g++) {
    const rows = counts[g];
    const sub = {
      name, dtype: t.dtype, dtypeCode: t.dtypeCode, itemSize: t.itemSize, coding: 'rans', codingCode: 0,
      n: rows * C, shape: [rows, ...t.shape.slice(1)], rows, group: g,
      dataOffset: o + offsets[g], dataSize: sizes[g], dequantOffset: 0, dequantSize: 0,
      checksum: groupChecksums[g], checksumOffset: sumsAt + 4 * g, sizeOffset: sizesAt + 8 * g, entryOffset: t.entryOffset,
    };
    try {
      Object.assign(sub, parseRansBlock(bytes, dv, sub));
    } catch (e) {
      throw withPrefix(e, `group ${g}: `);
    }
    groups.push(sub);
  }
  let words = 0;
  for (const sub of groups) words += sub.words;
  return {
    groups, groupCount: G, mapBits: b, rowSize: C, rowMap, groupStart, groupChecksums,
    tableChecksum: fxhash26Typed(groupChecksums), words, mapOffset: mapAt,
  };
}

/**
 * Parse and validate an rANS data block (spec section 7, revision 3; section 13 rule 7): header
 * fields (mode: PAIRS, PRODUCT; chunk size Q), size formula, chunk tables, vocabulary padding, CDF, states. Returns
 * offsets of its arrays; allocates nothing (its loops are bounded by the block's size).
 */
function parseRansBlock(bytes, dv, t) {
  const o = t.dataOffset;
  const name = t.name;
  // where the block's size is stored: the entry's data_size, or a sub-block's group_sizes[g] (section 7.4)
  const sizeAt = t.sizeOffset ?? t.entryOffset + 8;
  if (t.dataSize < RANS_HEADER_SIZE) fail('BadModel', `rANS data_size is ${t.dataSize}, smaller than the 24-byte block header`, sizeAt, name);
  const V = dv.getUint32(o, true);
  const L = dv.getUint32(o + 4, true);
  const W = u64(dv, o + 8);
  const P = bytes[o + 16];
  const mode = bytes[o + 17];
  const Q = dv.getUint32(o + 20, true);
  if (mode & ~(MODE_PAIRS | MODE_PRODUCT)) fail('ReservedNonZero', `rANS mode is 0x${mode.toString(16)}: reserved bits 2-7 set (only bit 0, PAIRS, and bit 1, PRODUCT, are defined)`, o + 17, name);
  if (dv.getUint16(o + 18, true) !== 0) fail('ReservedNonZero', `rANS block reserved u16 is ${dv.getUint16(o + 18, true)}, expected 0`, o + 18, name);
  if (P < 1 || P > 15) fail('BadModel', `precision P is ${P}, expected 1..15`, o + 16, name);
  const n = t.n;
  const pairs = (mode & MODE_PAIRS) !== 0;
  const product = (mode & MODE_PRODUCT) !== 0;
  if (n === 0) {
    if (V !== 0) fail('BadModel', `V is ${V}, expected 0 for an empty tensor`, o, name);
    if (L !== 0) fail('BadModel', `L is ${L}, expected 0 for an empty tensor`, o + 4, name);
    if (W !== 0) fail('BadModel', `W is ${W}, expected 0 for an empty tensor`, o + 8, name);
    if (mode !== 0) fail('BadModel', `mode is ${mode}, expected 0 for an empty tensor`, o + 17, name);
    if (Q !== 0) fail('BadModel', `chunk size Q is ${Q}, expected 0 for an empty tensor`, o + 20, name);
  }
  if (pairs && (t.itemSize !== 1 || n % 2 !== 0)) {
    fail('BadModel', `PAIRS (mode bit 0) needs a 1-byte dtype and an even entry count n >= 2, the tensor has ${t.itemSize !== 1 ? `dtype ${t.dtype}` : `n = ${n}`}`, o + 17, name);
  }
  if (product && !pairs) fail('BadModel', `rANS mode is 0x${mode.toString(16)}: PRODUCT (bit 1) is allowed only together with PAIRS (bit 0)`, o + 17, name);
  // N: the number of symbols (spec section 7): entries, or pairs of entries.
  const N = pairs ? n / 2 : n;
  if (n > 0) {
    if (V < 1 || V > 2 ** P) fail('BadModel', `V is ${V}, expected 1..2^P = ${2 ** P}`, o, name);
    if (product && V * V > 2 ** P) fail('BadModel', `V is ${V}: with PRODUCT, V^2 = ${V * V} must be at most 2^P = ${2 ** P}`, o, name);
    if (L < 1 || L > N) fail('BadModel', `L is ${L}, expected 1..N = ${N} (N: symbols)`, o + 4, name);
    if (W > N) fail('BadModel', `W is ${W}, expected at most N = ${N} (N: symbols)`, o + 8, name);
    if (Q !== 0 && !(L <= Q && Q < N)) fail('BadModel', `chunk size Q is ${Q}, expected 0 or L = ${L} <= Q < N = ${N}`, o + 20, name);
  }
  // K: the number of chunks (section 7.2); bounded by the block size before it sizes anything.
  const K = n === 0 ? 0 : Q > 0 ? Math.ceil(N / Q) : 1;
  if (K > t.dataSize) fail('BadModel', `chunk size Q = ${Q} gives ${K} chunks, more than the block's ${t.dataSize} bytes could hold`, o + 20, name);
  // item: the size of one value of the vocabulary; with PRODUCT the entries' (section 7.3)
  const item = t.itemSize * (pairs && !product ? 2 : 1);
  const statesOffset = o + RANS_HEADER_SIZE;
  const chunkTableOffset = statesOffset + 4 * L * K;
  const valuesOffset = chunkTableOffset + (Q > 0 ? 8 * K : 0);
  const valuesBytes = V * item;
  const cdfOffset = valuesOffset + valuesBytes + (valuesBytes & 1);
  const wordsOffset = cdfOffset + (V > 0 ? 2 * (V + 1) : 0);
  const expected = wordsOffset + 2 * W - o;
  if (t.dataSize !== expected) fail('BadModel', `data_size is ${t.dataSize}, expected 24 + 4LK + T + VS + 2(V+1) + 2W = ${expected} (V=${V}, L=${L}, K=${K}, chunk tables ${Q > 0 ? 8 * K : 0} B, W=${W})`, sizeAt, name);

  // Chunk tables (section 7.2): each chunk's words at most its symbols, summing to W; checksums < 2^26.
  if (Q > 0) {
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const wk = dv.getUint32(chunkTableOffset + 4 * k, true);
      const size = Math.min(N, (k + 1) * Q) - k * Q;
      if (wk > size) fail('BadModel', `chunk_words[${k}] is ${wk}, more than the chunk's ${size} symbols`, chunkTableOffset + 4 * k, name);
      const ck = dv.getUint32(chunkTableOffset + 4 * K + 4 * k, true);
      if (ck >= 0x4000000) fail('BadModel', `chunk_checksums[${k}] is 0x${ck.toString(16)}: bits above 26 set`, chunkTableOffset + 4 * K + 4 * k, name);
      sum += wk;
    }
    if (sum !== W) fail('BadModel', `the chunks' word counts (chunk_words) sum to ${sum}, but W = ${W}`, chunkTableOffset, name);
  }
  if (valuesBytes & 1) checkZeroBytes(bytes, cdfOffset - 1, cdfOffset, 'vocabulary padding', name);

  if (V > 0) {
    const M = 2 ** P;
    if (dv.getUint16(cdfOffset, true) !== 0) fail('BadModel', `cdf[0] is ${dv.getUint16(cdfOffset, true)}, expected 0`, cdfOffset, name);
    let prev = 0;
    for (let s = 1; s <= V; s++) {
      const c = dv.getUint16(cdfOffset + 2 * s, true);
      if (c <= prev) fail('BadModel', `cdf[${s}] is ${c}, not greater than cdf[${s - 1}] = ${prev}`, cdfOffset + 2 * s, name);
      prev = c;
    }
    if (prev !== M) fail('BadModel', `cdf[V] is ${prev}, expected 2^P = ${M}`, cdfOffset + 2 * V, name);
  }
  for (let j = 0; j < L * K; j++) {
    const x = dv.getUint32(statesOffset + 4 * j, true);
    if (x < STATE_LOW) fail('BadModel', `state of ${K > 1 ? `chunk ${Math.floor(j / L)}, lane ${j % L}` : `lane ${j}`} is ${x}, below 2^16`, statesOffset + 4 * j, name);
  }
  return {
    vocabSize: V, lanes: L, words: W, precision: P, pairs, product, mode, symbols: N, chunkSize: Q, chunks: K,
    // the number of symbol ids the stream codes: V, or V^2 pair ids with PRODUCT
    alphabet: product ? V * V : V,
    statesOffset, chunkTableOffset, valuesOffset, cdfOffset, wordsOffset,
  };
}
