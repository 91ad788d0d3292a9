// anspack: decode .anspack files (spec/FORMAT.md) in browsers and node. No dependencies.
//
//   import { decode } from 'anspack';
//   const { tensors, byName, metadata } = decode(await (await fetch(url)).arrayBuffer());
//   byName['encoder.weight'].data   // Int8Array, ...; .shape, .dtype, .checksum (verified)
//
// Input is treated as untrusted: the header, table, layout and every model are validated (spec
// section 13) before any output is allocated, decoded sizes are bounded by options.maxEntries, and
// every failure throws an AnspackError whose .code names it (spec section 14).

import { AnspackError, withPrefix } from './errors.js';
import { fxhash26Typed, fxhash26Bytes16LE } from './fxhash.js';
import { parseHeader, ransArrays, blockChecksum, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_ENTRIES, LITTLE_ENDIAN, STATE_LOW, BLOCK_CHECKSUM_AT, objectOption, booleanOption, countOption } from './header.js';
import { decodeRansChunks } from './rans.js';
import { dequantizeBlock } from './dequant.js';
import { gatherRows, rowRuns } from './groups.js';
import { returnsNibbles, packNibbles, nibbleValues, nibbleDtype } from './nibbles.js';
import { wasmAvailable, wasmPrepare, wasmRelease, wasmImageBegin, wasmImageEnd, wasmStreamRows, wasmStreamRowsMulti, runsAt, streamWays, streamsAt } from './wasm/engine.js';

export { AnspackError, ErrorCodes } from './errors.js';
export { fxhash26 } from './fxhash.js';
export { DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_ENTRIES } from './header.js';
export { decodeSeedLayout } from './seed.js';
export { packNibbles } from './nibbles.js';

/** The typed array holding each dtype's decoded values (float16: its IEEE binary16 bit patterns). */
export const ARRAY_TYPES = Object.freeze({
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array,
  int32: Int32Array, uint32: Uint32Array, float16: Uint16Array, float32: Float32Array,
});

/** Largest n this implementation decodes in one tensor (its loop counters are int32). */
const IMPLEMENTATION_MAX_ENTRIES = 2 ** 31 - 1;

function publicInfo(t) {
  const info = {
    name: t.name, shape: t.shape.slice(), dtype: t.dtype, coding: t.coding, checksum: t.checksum,
    blockChecksum: t.blockChecksum, n: t.n, dataOffset: t.dataOffset, dataSize: t.dataSize,
    dequantOffset: t.dequantOffset, dequantSize: t.dequantSize,
  };
  if (t.dequantSize > 0) info.dequantKind = t.dequantKind;
  if (t.coding === 'rans') {
    info.vocabSize = t.vocabSize; info.lanes = t.lanes; info.words = t.words; info.precision = t.precision;
    // Revision 2 (spec sections 7.1, 7.2): pairs of entries as one symbol; chunks of chunkSize symbols.
    info.pairs = t.pairs; info.symbols = t.symbols; info.chunkSize = t.chunkSize; info.chunks = t.chunks;
    // Revision 3 (spec section 7.3): pairs coded with the pair model derived from the entries' model
    // (then vocabSize counts distinct entries, and the stream codes vocabSize^2 pair ids).
    info.product = t.product;
  }
  if (t.coding === 'groups') {
    // Revision 4 (spec section 7.4): the rows split into groups, each coded as a coding-0 sub-block.
    info.groupCount = t.groupCount;
    info.rowMap = t.rowMap.slice();
    info.groups = t.groups.map((sub) => ({
      group: sub.group, rows: sub.rows, n: sub.n, shape: sub.shape.slice(), checksum: sub.checksum,
      dataOffset: sub.dataOffset, dataSize: sub.dataSize,
      vocabSize: sub.vocabSize, lanes: sub.lanes, words: sub.words, precision: sub.precision,
      pairs: sub.pairs, product: sub.product, symbols: sub.symbols, chunkSize: sub.chunkSize, chunks: sub.chunks,
    }));
  }
  return info;
}

function checkOptions(options) {
  objectOption(options);
  const maxEntries = countOption(options, 'maxEntries', DEFAULT_MAX_ENTRIES);
  const maxTotalEntries = countOption(options, 'maxTotalEntries', DEFAULT_MAX_TOTAL_ENTRIES);
  const engine = options.engine ?? 'auto';
  if (engine !== 'auto' && engine !== 'js' && engine !== 'wasm') {
    throw new AnspackError('BadArgument', `engine must be 'auto', 'js' or 'wasm', got ${engine}`);
  }
  const twoStreams = booleanOption(options, 'twoStreams', true);
  const nibbles = booleanOption(options, 'nibbles', false);
  return {
    engine,
    twoStreams,
    nibbles,
    verify: options.verify ?? true,
    dequantize: options.dequantize ?? false,
    maxEntries,
    maxTotalEntries,
  };
}

/**
 * List a file's tensors and metadata without decoding any stream. Validates everything that does
 * not need decoding (spec section 13 rules 1-8 and the dequant block layout) and, unless
 * `verify: false`, the header checksum.
 *
 * @param {ArrayBuffer | ArrayBufferView} buffer
 * @param {{maxEntries?: number, verify?: boolean}} [options]
 */
export function readHeader(buffer, options = {}) {
  const opts = checkOptions(options);
  const hdr = parseHeader(buffer, { maxEntries: opts.maxEntries, verify: opts.verify });
  return {
    version: hdr.version, fileSize: hdr.fileSize, headerChecksum: hdr.headerChecksum, metadata: hdr.metadata,
    tensors: hdr.tensors.map(publicInfo),
  };
}

/**
 * Decode every tensor of a file.
 *
 * @param {ArrayBuffer | ArrayBufferView} buffer  the whole file
 * @param {object} [options]
 * @param {boolean} [options.verify=true]  compare the header, block and data checksums with the
 *   stored ones (ChecksumMismatch); the structural checks are always made
 * @param {boolean} [options.dequantize=false]  tensors with a dequant block -> Float32Array through
 *   the block's descriptor; float16 raw tensors -> Float32Array
 * @param {number} [options.maxEntries=2**28]  limit on the entries of any one tensor
 * @param {number} [options.maxTotalEntries=2**30]  limit on the entries of all tensors together
 * @param {'auto'|'js'|'wasm'} [options.engine='auto']  rANS decode loops: 'wasm' (WebAssembly,
 *   src/wasm/), 'js' (pure JS, src/rans_fast.js), 'auto' = 'wasm' where WebAssembly is available
 * @param {Object<string, ArrayBufferView>} [options.outputs]  caller-supplied output arrays by name
 *   (of the dtype's array type and length >= n; for a dequantized tensor they receive the integers;
 *   for a tensor returned as nibbles a Uint8Array of length >= ceil(n / 2))
 * @param {boolean} [options.nibbles=false]  int8 / uint8 tensors whose values all fit in 4 bits
 *   (the stored vocabulary, or a raw block's bytes, within [-8, 7] / [0, 15]) come back packed two
 *   entries a byte: dtype 'int4' / 'uint4', storedDtype 'int8' / 'uint8', data a Uint8Array of
 *   ceil(n / 2) bytes, entry 2i in the low nibble of byte i and 2i + 1 in the high one (int4: two's
 *   complement; an odd n leaves the last high nibble 0). Paired tensors (spec section 7.1: the
 *   encoder's 4-bit weights) are decoded straight into the packed bytes, others packed after
 *   decoding. Tensors returned dequantized are not packed.
 * @returns {{tensors: object[], byName: Object<string, object>, metadata: object}}
 */
export function decode(buffer, options = {}) {
  const opts = checkOptions(options);
  const hdr = parseHeader(buffer, { maxEntries: opts.maxEntries, verify: opts.verify });
  let total = 0;
  for (const t of hdr.tensors) total += t.n;
  if (total > opts.maxTotalEntries) {
    throw new AnspackError('LimitExceeded', `the file's tensors hold ${total} entries in all, above the limit maxTotalEntries = ${opts.maxTotalEntries}`, { offset: 40 });
  }
  const outputs = options.outputs ?? {};
  // shared by the tensors of this call: the row-group tensors' temporary, the js engine's slot table,
  // the temporary of the entries of the tensors packed into nibbles after decoding
  const scratch = { bytes: null, table: null, nibbles: null };
  const tensors = hdr.tensors.map((t) => decodeOne(hdr, t, opts, outputs[t.name], scratch));
  const byName = Object.create(null);
  for (const t of tensors) byName[t.name] = t;
  return { tensors, byName, metadata: hdr.metadata };
}

/**
 * Decode one tensor by name (the whole file is still validated first).
 *
 * @param {ArrayBuffer | ArrayBufferView} buffer
 * @param {string} name
 * @param {{verify?: boolean, dequantize?: boolean, maxEntries?: number, out?: ArrayBufferView}} [options]
 */
export function decodeTensor(buffer, name, options = {}) {
  const opts = checkOptions(options);
  const hdr = parseHeader(buffer, { maxEntries: opts.maxEntries, verify: opts.verify });
  const t = hdr.tensors.find((x) => x.name === name);
  if (t === undefined) {
    throw new AnspackError('BadArgument', `no tensor named ${JSON.stringify(name)} (the file has ${hdr.tensors.length})`);
  }
  return decodeOne(hdr, t, opts, options.out);
}

const HAS_UNSAFE_BUFFER = typeof Buffer === 'function' && typeof Buffer.allocUnsafeSlow === 'function';
/** Arrays of at least this many bytes are allocated without zeroing where that is possible. */
const UNZEROED_MIN = 1 << 16;

/**
 * A new `Ctor(n)` that the decoder fills completely before anyone sees it: an ordinary typed array
 * over an ArrayBuffer of its own, of exactly its size, at offset 0. In node, one of 64 KiB or more
 * is a view of Buffer.allocUnsafeSlow(bytes): memory that is not zeroed first, which every caller
 * overwrites whole (decode writes every entry of a tensor, or throws and drops the array; async.js
 * fills a split tensor's array with all of its ranges). Zeroing it was ~8 % of decode() of
 * all-MiniLM-L6-v2 int4 in node (35.1 -> 32.4 ms best of 15, int8 56.7 -> 55.1 ms, A/B in one
 * process). Elsewhere (browsers) `new Ctor(n)`.
 */
export function newOutputArray(Ctor, n) {
  const bytes = n * Ctor.BYTES_PER_ELEMENT;
  if (!HAS_UNSAFE_BUFFER || bytes < UNZEROED_MIN) return new Ctor(n);
  const b = Buffer.allocUnsafeSlow(bytes);
  return new Ctor(b.buffer, b.byteOffset, n);
}

/**
 * The array tensor t is decoded into: a new one, or the caller's `out` (checked: type and length).
 * With `packed` (decode()'s nibbles) the Uint8Array of its ceil(n / 2) packed bytes.
 */
function outputArray(t, out, packed = false) {
  const Ctor = packed ? Uint8Array : ARRAY_TYPES[t.dtype];
  const size = packed ? Math.ceil(t.n / 2) : t.n;
  if (out === undefined || out === null) return newOutputArray(Ctor, size);
  if (!(out instanceof Ctor) || out.length < size) {
    throw new AnspackError('BadArgument', `output for tensor ${JSON.stringify(t.name)}${packed ? ' (returned as nibbles)' : ''} must be a ${Ctor.name} of length >= ${size}`, { tensor: t.name });
  }
  return out.length === size ? out : out.subarray(0, size);
}

function decodeOne(hdr, t, opts, out, scratch = { bytes: null, table: null, nibbles: null }) {
  const { bytes } = hdr;
  if (t.n > IMPLEMENTATION_MAX_ENTRIES) {
    throw new AnspackError('LimitExceeded', `${t.n} entries is above this decoder's limit of 2^31 - 1 per tensor`, { offset: t.entryOffset + 48, tensor: t.name });
  }
  if (opts.verify) {
    const h = blockChecksum(bytes, t);
    if (h !== t.blockChecksum) {
      throw new AnspackError('ChecksumMismatch', `block_checksum: the model and dequant bytes hash to 0x${h.toString(16)}, the table says 0x${t.blockChecksum.toString(16)}`, { offset: t.entryOffset + BLOCK_CHECKSUM_AT, tensor: t.name });
    }
  }
  const packed = returnsNibbles(bytes, t, opts);
  const data = outputArray(t, out, packed);
  // with nibbles, what the entries are decoded into: straight into the packed bytes (PAIRS: one byte
  // per pair; row groups of PAIRS sub-blocks with their rows in place), else a temporary of the
  // entries, packed afterwards (one for the whole decode() call)
  const direct = packed && (t.coding === 'rans' ? t.pairs : t.coding === 'groups' && groupsInPlace(t, opts.engine) && t.groups.every((g) => g.pairs));
  let entries = data;
  if (packed && !direct) {
    if (scratch.nibbles === null || scratch.nibbles.length < t.n) scratch.nibbles = newOutputArray(Uint8Array, t.n);
    entries = new ARRAY_TYPES[t.dtype](scratch.nibbles.buffer, scratch.nibbles.byteOffset, t.n);
  }
  let checksum;
  if (t.coding === 'raw') {
    checksum = decodeRaw(bytes, t, entries);
  } else if (t.coding === 'groups') {
    checksum = decodeGroupsBlock(bytes, t, entries, opts.engine, opts.verify, opts.twoStreams, scratch, direct);
  } else {
    checksum = decodeRansBlock(bytes, t, entries, opts.engine, opts.verify, opts.twoStreams, scratch, direct);
  }
  if (opts.verify && checksum !== t.checksum) {
    const what = t.coding === 'groups' ? 'the group checksums hash' : t.chunks > 1 ? 'the chunk checksums hash' : 'decoded data hashes';
    throw new AnspackError('ChecksumMismatch', `${what} to 0x${checksum.toString(16)}, the table says 0x${t.checksum.toString(16)}`, { offset: t.entryOffset + 32, tensor: t.name });
  }
  if (packed) {
    if (entries !== data) packNibbles(entries, data);
    return { name: t.name, shape: t.shape.slice(), dtype: nibbleDtype(t.dtype), storedDtype: t.dtype, data, checksum };
  }
  const tensor = { name: t.name, shape: t.shape.slice(), dtype: t.dtype, data, checksum };
  if (opts.dequantize) {
    if (t.dequantSize > 0) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      tensor.data = dequantizeBlock(dv, t.dequantOffset, t.dequantSize, data, { name: t.name, shape: t.shape.slice(), dtype: t.dtype });
      tensor.storedDtype = t.dtype;
      tensor.dtype = 'float32';
    } else if (t.dtype === 'float16') {
      tensor.data = float16ToFloat32(data);
      tensor.storedDtype = t.dtype;
      tensor.dtype = 'float32';
    }
  }
  return tensor;
}

/**
 * Coding 1: copy the entries and hash the block (spec sections 8 and 11): as u8 values for 1-byte
 * dtypes, as little-endian u16 values for 2- and 4-byte dtypes (low half, then high half).
 */
function decodeRaw(bytes, t, data) {
  const size = t.itemSize;
  const src = bytes.subarray(t.dataOffset, t.dataOffset + t.dataSize);
  const dst = new Uint8Array(data.buffer, data.byteOffset, t.dataSize);
  if (LITTLE_ENDIAN || size === 1) {
    dst.set(src);
  } else {
    for (let i = 0; i < t.dataSize; i += size) for (let b = 0; b < size; b++) dst[i + b] = src[i + size - 1 - b];
  }
  if (size === 1) return fxhash26Typed(new Uint8Array(data.buffer, data.byteOffset, t.n));
  if (LITTLE_ENDIAN) return fxhash26Typed(new Uint16Array(data.buffer, data.byteOffset, t.dataSize / 2));
  return fxhash26Bytes16LE(src);
}

/**
 * Coding 0: rANS (spec sections 7 and 10); the model was validated by parseHeader. Decodes the N
 * symbols chunk by chunk (one chunk unless Q > 0) into `data` (with PAIRS: as u16 pair values, two
 * entries each); checks each chunk's stream and, with verify, its chunk checksum. Returns the
 * checksum to compare with the table's: the FxHash26 of the ids, or for a chunked tensor of its
 * stored chunk checksums (section 11).
 */
function decodeRansBlock(bytes, t, data, engine, verify, twoStreams = true, scratch = null, nibbles = false) {
  if (t.n === 0) return 0;
  const m = ransArrays(bytes, t);
  const N = t.symbols;
  let out = data;
  let vals = m.vals;
  let copyBack = false;
  if (t.pairs && nibbles) {
    vals = nibbleValues(m.vals);  // one byte per symbol
  } else if (t.pairs) {
    // A paired int8 / uint8 tensor is, to the coder, the uint16 tensor of its pair values, low byte
    // = the even entry: on a little-endian host the output's bytes viewed as u16 (if 2-aligned).
    if (LITTLE_ENDIAN && data.byteOffset % 2 === 0) out = new Uint16Array(data.buffer, data.byteOffset, N);
    else { out = new Uint16Array(N); copyBack = true; }
  }
  const expected = verify ? m.chunkChecksums : null;
  const r = decodeRansChunks(m, vals, out, engine, expected, twoStreams, scratch);
  if (copyBack) {
    const u8 = new Uint8Array(data.buffer, data.byteOffset, t.n);
    for (let i = 0; i < N; i++) { u8[2 * i] = out[i] & 0xff; u8[2 * i + 1] = out[i] >>> 8; }
  }
  if (r.status !== 'ok') throw chunkError(t, m, r);
  return t.chunkSize > 0 ? m.tableChecksum : r.checksum;
}

/**
 * Coding 2: row groups (spec section 7.4); the block was validated by parseHeader. With the
 * WebAssembly engine, where rowsInPlace(t), decodeGroupsInPlace. Otherwise each group's
 * sub-block is decoded as a coding-0 block (decodeRansBlock: its streams, chunk checksums) into a
 * temporary array holding the group tensors back to back, its checksum compared (with verify) with
 * the stored group_checksums[g]; groups in order, so the first failing group is reported ("group g:
 * ..."). Then the rows are copied to their places in `data`, in data's order (groups.js gatherRows,
 * which says why a temporary of the tensor's size: writing in order is the fastest of the ways
 * measured). Returns the FxHash26 of the stored group_checksums, to compare with the table's
 * checksum (section 11).
 */
function decodeGroupsBlock(bytes, t, data, engine, verify, twoStreams, scratch, nibbles = false) {
  if (nibbles || groupsInPlace(t, engine)) return decodeGroupsInPlace(bytes, t, data, verify, twoStreams, nibbles);
  // one temporary for all the row-group tensors of a decode() call, grown to the largest: fewer fresh
  // pages to fault in (node, MiniLM int4 with 27 grouped tensors: decode() median 52 -> 45.5 ms,
  // best 45 -> 42, 40 runs A/B in one process)
  const size = t.n * t.itemSize;
  if (scratch.bytes === null || scratch.bytes.length < size) scratch.bytes = newOutputArray(Uint8Array, size);
  const Ctor = ARRAY_TYPES[t.dtype];
  const tmp = new Ctor(scratch.bytes.buffer, scratch.bytes.byteOffset, t.n);
  for (const sub of t.groups) {
    const a = t.groupStart[sub.group] * t.rowSize;
    let h;
    try {
      h = decodeRansBlock(bytes, sub, tmp.subarray(a, a + sub.n), engine, verify, twoStreams, scratch);
    } catch (e) {
      throw withPrefix(e, `group ${sub.group}: `);
    }
    if (verify && h !== sub.checksum) throw groupChecksumError(sub, h);
  }
  gatherRows(t, tmp, data);
  return t.tableChecksum;
}

/** Whether decodeGroupsBlock decodes a coding-2 tensor with decodeGroupsInPlace (engine and rowsInPlace). */
function groupsInPlace(t, engine) {
  return (engine === 'wasm' || (engine === 'auto' && wasmAvailable())) && rowsInPlace(t);
}

/**
 * Whether the WebAssembly engine can decode a coding-2 tensor's sub-blocks straight into their rows
 * (decodeGroupsInPlace): 1- and 2-byte values (the loops write the values, not ids), every sub-block
 * of V >= 2 symbols whose rows and chunks are whole rows of lanes (a tensor row's symbols and the
 * chunk size Q multiples of L, of 2 for L = 1; with PAIRS an even row), and an image that fits.
 */
function rowsInPlace(t) {
  if (t.itemSize > 2 || t.n * t.itemSize > IMAGE_MAX_BYTES) return false;
  for (const sub of t.groups) {
    if (sub.vocabSize < 2) return false;
    if (sub.pairs && t.rowSize % 2 !== 0) return false;
    const rowSymbols = sub.pairs ? t.rowSize / 2 : t.rowSize, unit = sub.lanes === 1 ? 2 : sub.lanes;
    if (rowSymbols % unit !== 0 || (sub.chunks > 1 && sub.chunkSize % unit !== 0)) return false;
  }
  return true;
}

/** Largest tensor (bytes) decoded through an image in WebAssembly memory; bigger ones: gatherRows. */
const IMAGE_MAX_BYTES = 1 << 25;

/**
 * Coding 2 with the WebAssembly engine where rowsInPlace(t): the tensor's image is reserved in the
 * module's memory, each group's stream decoded with its rows written where they lie in the tensor
 * (wasm/engine.js wasmStreamRows, groups.js rowRuns), then the image copied to `data` once; checks
 * and errors as decodeRansBlock's and decodeGroupsBlock's (groups in order). With `nibbles` (decode()'s,
 * every sub-block PAIRS: a row's entries are an even number), `data` holds the packed bytes: each pair
 * value written as its byte (nibbleValues), a row rowSize / 2 bytes.
 */
function decodeGroupsInPlace(bytes, t, data, verify, twoStreams, nibbles = false) {
  let Lmax = 1;
  for (const sub of t.groups) Lmax = Math.max(Lmax, sub.lanes);
  const size = nibbles ? t.n / 2 : t.n * t.itemSize;
  const image = wasmImageBegin(Lmax, size);
  let done = false;
  try {
    const rowBytes = nibbles ? t.rowSize / 2 : t.rowSize * t.itemSize;
    for (const sub of t.groups) {
      const m = ransArrays(bytes, sub);
      const runs = rowRuns(t, sub.group, rowBytes, nibbles ? 1 : sub.pairs ? 2 : t.itemSize);
      const K = sub.chunks, Q = sub.chunkSize, L = m.L, N = sub.symbols;
      // chunk k (spec section 7.2; K = 1: the whole stream): its states, words, symbols, first run
      const wordStarts = new Float64Array(K + 1);
      for (let k = 0; k < K; k++) wordStarts[k + 1] = wordStarts[k] + (K > 1 ? m.chunkWords[k] : sub.words);
      let maxW = 0;
      for (let k = 0; k < K; k++) maxW = Math.max(maxW, wordStarts[k + 1] - wordStarts[k]);
      const chunk = (k) => ({
        states: m.states.subarray(k * L, k * L + L), words: m.words.subarray(wordStarts[k], wordStarts[k + 1]),
        W: wordStarts[k + 1] - wordStarts[k], n: Math.min(N, (k + 1) * Q || N) - k * Q, at: runsAt(runs, k * Q),
      });
      // a chunk's result: its errors (and with verify its chunk checksum) as decodeRansBlock's, chunks in order
      const accept = (k, r) => {
        let e = null;
        if (r.status !== 'ok') e = chunkError(sub, m, { ...r, chunk: k, wordStart: wordStarts[k] });
        else if (verify && K > 1 && r.checksum !== m.chunkChecksums[k]) e = chunkError(sub, m, { status: 'chunkChecksum', chunk: k, checksum: r.checksum });
        if (e !== null) throw withPrefix(e, `group ${sub.group}: `);
      };
      const ways = twoStreams ? streamWays(L, K) : 1;
      const ctx = wasmPrepare(m.cdf, m.P, nibbles ? nibbleValues(m.vals) : m.vals, L, maxW, ways, image);
      let h;
      try {
        for (let k = 0; k < K;) {
          // chunks k .. k + q - 1 in one loop (q = 4 or 2 where the engine can), checked in order
          const q = streamsAt(ways, k, K);
          if (q > 1) {
            const list = [];
            for (let j = 0; j < q; j++) list.push(chunk(k + j));
            const rs = wasmStreamRowsMulti(ctx, image, runs, list);
            for (let j = 0; j < q; j++) accept(k + j, rs[j]);
          } else {
            const c = chunk(k);
            const r = wasmStreamRows(ctx, image, c.states, c.words, c.W, c.n, runs, c.at);
            accept(k, r);
            if (K === 1) h = r.checksum;
          }
          k += q;
        }
      } finally {
        wasmRelease(ctx);
      }
      if (K > 1) h = m.tableChecksum;
      if (verify && h !== sub.checksum) throw groupChecksumError(sub, h);
    }
    done = true;
  } finally {
    wasmImageEnd(image, done ? new Uint8Array(data.buffer, data.byteOffset, size) : null);
  }
  return t.tableChecksum;
}

/** The ChecksumMismatch of a group whose ids (or chunk checksums) do not hash to group_checksums[g]. */
export function groupChecksumError(sub, h) {
  const what = sub.chunks > 1 ? 'chunk checksums hash' : 'ids hash';
  return new AnspackError('ChecksumMismatch', `group ${sub.group}: its ${what} to 0x${h.toString(16)}, group_checksums[${sub.group}] says 0x${sub.checksum.toString(16)}`, { offset: sub.checksumOffset, tensor: sub.name });
}

/** The AnspackError for a failed chunk / stream of decodeRansChunks (offsets in the file). */
function chunkError(t, m, r) {
  const K = t.chunks, k = r.chunk;
  const of = K > 1 ? ` of chunk ${k}` : '';
  const Wk = K > 1 ? m.chunkWords[k] : t.words;
  const opt = { tensor: t.name };
  const w0 = t.wordsOffset + 2 * r.wordStart;
  if (r.status === 'underrun') {
    return new AnspackError('CorruptStream', `word stream${of} under-run: the symbols need more than its ${Wk} words`, { ...opt, offset: w0 + 2 * Wk });
  }
  if (r.status === 'leftover') {
    return new AnspackError('CorruptStream', `words left over: ${r.wordsRead} of the ${Wk} words${of} read after its last symbol`, { ...opt, offset: w0 + 2 * r.wordsRead });
  }
  if (r.status === 'badFinalState') {
    return new AnspackError('CorruptStream', `lane ${r.lane}${of} ends in a state other than 2^16 = ${STATE_LOW}`, { ...opt, offset: t.statesOffset + 4 * (k * t.lanes + r.lane) });
  }
  if (r.status === 'chunkChecksum') {
    return new AnspackError('ChecksumMismatch', `chunk ${k}'s ids hash to 0x${r.checksum.toString(16)}, chunk_checksums[${k}] says 0x${m.chunkChecksums[k].toString(16)}`, { ...opt, offset: t.chunkTableOffset + 4 * K + 4 * k });
  }
  return new AnspackError('CorruptStream', `stream${of}: ${r.status}`, opt);
}

/**
 * IEEE 754 binary16 bit patterns -> Float32Array (exact: every binary16 is a binary32).
 * @param {Uint16Array} bits
 * @returns {Float32Array}
 */
export function float16ToFloat32(bits) {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    const sign = (b & 0x8000) << 16;
    const exp = (b >>> 10) & 0x1f;
    const man = b & 0x3ff;
    if (exp === 0x1f) u[i] = sign | 0x7f800000 | (man << 13); // inf / NaN (payload kept)
    else if (exp !== 0) u[i] = sign | ((exp + 112) << 23) | (man << 13);
    else if (man === 0) u[i] = sign; // +-0
    else out[i] = (sign ? -1 : 1) * man * 2 ** -24; // subnormal
  }
  return out;
}
export { decodeGPU } from './gpu.js';
export { decodeAsync, createDecoderPool } from './async.js';
export { decodeStream, fetchTensor } from './stream.js';
