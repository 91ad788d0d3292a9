// Streaming decode and per-tensor HTTP Range access (issue 7).
//
//   for await (const t of decodeStream((await fetch(url)).body)) use(t);   // as bytes arrive
//   const t = await fetchTensor(url, 'encoder.weight');                    // 3 Range requests
//
// How it works. Both read the file's prefix (header, table, metadata: spec sections 3-6) first and
// validate it completely (the checks of spec section 13 that need only the prefix, plus the block
// placement of section 6 and the header checksum). Then, for each tensor, once the bytes of its data
// block and dequant block are at hand, they are framed as a one-tensor anspack file (a "subfile":
// a 40-byte header, the tensor's table entry with its offsets rebased, then its blocks) and decoded
// by the ordinary decode() of index.js, so every rule on the blocks (model, stream, block and data
// checksums, dequant) is checked by the same code as for whole files. Error offsets are mapped back
// to offsets in the original file. The same subfiles are what async.js sends to its workers.
//
// Memory: decodeStream keeps only the bytes of the tensor it is waiting for (plus the chunk in
// flight); fetchTensor downloads only the prefix and the tensor's blocks.

import { AnspackError } from './errors.js';
import { fxhash26Bytes } from './fxhash.js';
import { MAGIC, HEADER_SIZE, align8, u64, fail, parseEntries, parseFixedHeader, parseMetadata, objectOption, booleanOption, countOption } from './header.js';
import { decode, decodeTensor, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_ENTRIES } from './index.js';
import { createDecoderPool } from './async.js';

function setU64(dv, off, v) {
  dv.setUint32(off, v % 0x100000000, true);
  dv.setUint32(off + 4, Math.floor(v / 0x100000000), true);
}

/** Options shared by decodeStream and fetchTensor (same meaning and defaults as decode()). */
export function streamOptions(options) {
  objectOption(options);
  const maxEntries = countOption(options, 'maxEntries', DEFAULT_MAX_ENTRIES);
  const maxTotalEntries = countOption(options, 'maxTotalEntries', DEFAULT_MAX_TOTAL_ENTRIES);
  const nibbles = booleanOption(options, 'nibbles', false);
  return { verify: options.verify ?? true, dequantize: options.dequantize ?? false, nibbles, maxEntries, maxTotalEntries };
}


/**
 * Parse and validate a file's prefix (header, table, metadata) without its data region: spec
 * section 13 rules 1, 3-6 (rule 2 is left to the caller, who knows how many bytes there are), the
 * raw block sizes of rule 8, and with `verify` the header checksum.
 *
 * @param {Uint8Array} prefix  bytes [0, prefixSize) of the file (more is allowed)
 * @param {{maxEntries: number, verify: boolean}} opts
 * @returns {{fileSize, prefixSize, metadata, tensors: object[]}} tensors with name, shape, n, dtype,
 *   coding, checksum, blockChecksum, dataOffset, dataSize, dequantOffset, dequantSize, entryOffset,
 *   entrySize, start (end of the previous block: the padding before this tensor starts there), end
 */
export function parsePrefix(prefix, opts) {
  const fixed = parseFixedHeader(prefix);
  const { fileSize, tensorCount, tableSize, prefixSize } = fixed;
  if (prefix.length < prefixSize) fail('Truncated', `the file ends at ${prefix.length}, inside the table/metadata (which end at ${prefixSize})`, prefix.length);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, prefixSize);
  const tableEnd = HEADER_SIZE + tableSize;
  const tensors = parseEntries(prefix, dv, tensorCount, tableEnd, opts.maxEntries);

  const metadata = parseMetadata(prefix, tableEnd, prefixSize);

  // Block placement (section 6) against file_size, known from the header.
  let end = prefixSize;
  let cursor = align8(prefixSize);
  for (const t of tensors) {
    t.start = end;
    if (t.dataOffset !== cursor) fail('BadLayout', `data_offset is ${t.dataOffset}, expected ${cursor}`, t.entryOffset, t.name);
    if (t.dataOffset + t.dataSize > fileSize) fail('BadLayout', `data block [${t.dataOffset}, ${t.dataOffset + t.dataSize}) extends past file_size (${fileSize})`, t.entryOffset + 8, t.name);
    cursor = t.dataOffset + t.dataSize;
    if (t.dequantSize > 0) {
      const want = align8(cursor);
      if (t.dequantOffset !== want) fail('BadLayout', `dequant_offset is ${t.dequantOffset}, expected ${want}`, t.entryOffset + 16, t.name);
      if (t.dequantOffset + t.dequantSize > fileSize) fail('BadLayout', `dequant block [${t.dequantOffset}, ${t.dequantOffset + t.dequantSize}) extends past file_size (${fileSize})`, t.entryOffset + 24, t.name);
      cursor = t.dequantOffset + t.dequantSize;
    } else if (t.dequantOffset !== 0) {
      fail('BadLayout', `dequant_offset is ${t.dequantOffset} but dequant_size is 0 (expected both 0)`, t.entryOffset + 16, t.name);
    }
    t.end = cursor;
    end = cursor;
    cursor = align8(cursor);
  }
  if (end !== fileSize) fail('BadLayout', `the last block ends at ${end} but file_size is ${fileSize}`, end);
  for (const t of tensors) {
    if (t.coding === 'raw' && t.dataSize !== t.n * t.itemSize) fail('BadLayout', `raw data_size is ${t.dataSize}, expected n * ${t.itemSize} = ${t.n * t.itemSize}`, t.entryOffset + 8, t.name);
  }

  if (opts.verify) {
    let h = fxhash26Bytes(prefix, 0, 36, 0);
    h = fxhash26Bytes(new Uint8Array(4), 0, 4, h);
    h = fxhash26Bytes(prefix, 40, prefixSize, h);
    if (h !== fixed.headerChecksum) fail('ChecksumMismatch', `header_checksum: header, table and metadata hash to 0x${h.toString(16)}, the header says 0x${fixed.headerChecksum.toString(16)}`, 36);
  }
  return { fileSize, prefixSize, metadata, tensors };
}

/**
 * Frame some tensors of a file as a file of their own (spec sections 3-6): header, their table
 * entries (offsets rebased), no metadata, their blocks. `read(start, end, dest, destOffset)` copies
 * bytes [start, end) of the original file into dest. Returns the subfile and a function mapping a
 * byte offset in the subfile back to the original file.
 *
 * @param {Uint8Array} prefix  the original file's prefix (for the table entries)
 * @param {object[]} tensors   entries from parsePrefix (or parseHeader, with entrySize), or made-up
 *   tensors {synthetic: true, name, entry (its table entry's bytes), entrySize, write(dest, at)
 *   (writes its data block), dataSize, dequantSize: 0} (async.js frames ranges of chunks this way)
 * @param {(start: number, end: number, dest: Uint8Array, destOffset: number) => void} read
 * @param {((size: number) => ArrayBuffer | null) | null} [getBuffer]  a spare buffer to build it in
 */
export function buildSubfile(prefix, tensors, read, getBuffer = null) {
  let tableSize = 0;
  for (const t of tensors) tableSize += t.entrySize;
  let size = HEADER_SIZE + tableSize;
  const place = [];
  for (const t of tensors) {
    const dataOffset = align8(size);
    let end = dataOffset + t.dataSize;
    let dequantOffset = 0;
    if (t.dequantSize > 0) {
      dequantOffset = align8(end);
      end = dequantOffset + t.dequantSize;
    }
    place.push({ dataOffset, dequantOffset });
    size = end;
  }
  // A recycled buffer (getBuffer(size) -> ArrayBuffer of at least `size` bytes, or null) holds old
  // bytes: every byte that is not written below (header fields, padding) is zeroed explicitly.
  const recycled = getBuffer ? getBuffer(size) : null;
  const bytes = recycled ? new Uint8Array(recycled, 0, size) : new Uint8Array(size);
  if (recycled) {
    bytes.fill(0, 0, HEADER_SIZE);
    let cursor = HEADER_SIZE + tableSize;
    tensors.forEach((t, i) => {
      bytes.fill(0, cursor, place[i].dataOffset);
      cursor = place[i].dataOffset + t.dataSize;
      if (t.dequantSize > 0) {
        bytes.fill(0, cursor, place[i].dequantOffset);
        cursor = place[i].dequantOffset + t.dequantSize;
      }
    });
  }
  const dv = new DataView(bytes.buffer, 0, size);
  bytes.set(MAGIC, 0);
  dv.setUint32(8, 1, true);
  setU64(dv, 16, size);
  dv.setUint32(24, tensors.length, true);
  dv.setUint32(28, tableSize, true);
  const segments = [];  // [subStart, subEnd, origStart]
  let p = HEADER_SIZE;
  tensors.forEach((t, i) => {
    if (t.synthetic) {
      bytes.set(t.entry, p);
    } else {
      bytes.set(prefix.subarray(t.entryOffset, t.entryOffset + t.entrySize), p);
      segments.push([p, p + t.entrySize, t.entryOffset, t.name]);
    }
    setU64(dv, p, place[i].dataOffset);
    setU64(dv, p + 16, place[i].dequantOffset);
    p += t.entrySize;
  });
  tensors.forEach((t, i) => {
    const { dataOffset, dequantOffset } = place[i];
    if (t.synthetic) {
      t.write(bytes, dataOffset);  // a made-up tensor (async.js: a range of chunks): no segment
    } else if (t.dequantSize > 0) {
      // data block, padding (zero: checked in the original by the caller) and dequant block
      read(t.dataOffset, t.dataOffset + t.dataSize, bytes, dataOffset);
      read(t.dequantOffset, t.dequantOffset + t.dequantSize, bytes, dequantOffset);
      segments.push([dataOffset, dequantOffset + t.dequantSize, t.dataOffset, t.name]);
    } else {
      read(t.dataOffset, t.dataOffset + t.dataSize, bytes, dataOffset);
      segments.push([dataOffset, dataOffset + t.dataSize, t.dataOffset, t.name]);
    }
  });
  dv.setUint32(36, fxhash26Bytes(bytes, 0, HEADER_SIZE + tableSize, 0), true);
  // Offsets inside a segment map into it; an offset just past a block (e.g. the end of a word
  // stream) maps to the end of that tensor's block.
  const mapOffset = (off, tensor = null) => {
    if (off === null || off === undefined) return null;
    for (const [a, b, o, name] of segments) if (name === tensor && off >= a && off < b) return o + (off - a);
    for (const [a, b, o, name] of segments) if (name === tensor && off === b) return o + (off - a);
    for (const [a, b, o] of segments) if (off >= a && off < b) return o + (off - a);
    for (const [a, b, o] of segments) if (off === b) return o + (off - a);
    return off < HEADER_SIZE ? off : null;
  };
  return { bytes, mapOffset };
}

/**
 * Re-create an AnspackError (or its plain-object copy from a worker: {name, code, message, offset,
 * tensor}) with its offset mapped back to the original file.
 */
export function remapError(e, mapOffset) {
  if (e && typeof e === 'object' && e.name === 'AnspackError' && typeof e.code === 'string') {
    let msg = String(e.message);
    if (msg.startsWith(`${e.code}: `)) msg = msg.slice(e.code.length + 2);
    const where = [];
    if (e.tensor !== null && e.tensor !== undefined) where.push(`tensor ${JSON.stringify(e.tensor)}`);
    if (e.offset !== null && e.offset !== undefined) where.push(`byte offset ${e.offset}`);
    const suffix = where.length ? ` (${where.join(', ')})` : '';
    if (suffix && msg.endsWith(suffix)) msg = msg.slice(0, msg.length - suffix.length);
    return new AnspackError(e.code, msg, { offset: mapOffset(e.offset ?? null, e.tensor ?? null), tensor: e.tensor ?? null });
  }
  return e;
}

/** Decode a one-or-more-tensor subfile with decode(); errors get original-file offsets. */
export function decodeSubfile(sub, opts) {
  try {
    return decode(sub.bytes, { verify: opts.verify, dequantize: opts.dequantize, nibbles: opts.nibbles, maxEntries: opts.maxEntries, maxTotalEntries: Infinity }).tensors;
  } catch (e) {
    throw remapError(e, sub.mapOffset);
  }
}

// ------------------------------------------------------------------------------------------------
// decodeStream

/** A queue of received chunks addressed by absolute file offset. */
class ByteQueue {
  constructor() {
    this.chunks = [];   // Uint8Array[]
    this.base = 0;      // file offset of chunks[0][0]
    this.received = 0;  // file offset just past the last byte received
  }

  push(chunk) {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.received += chunk.length;
  }

  /** Copy bytes [start, end) (all received, start >= base) into dest at destOffset. */
  copy(start, end, dest, destOffset) {
    let pos = this.base;
    for (const c of this.chunks) {
      const cEnd = pos + c.length;
      if (cEnd > start && pos < end) {
        const a = Math.max(start, pos), b = Math.min(end, cEnd);
        dest.set(c.subarray(a - pos, b - pos), destOffset + (a - start));
      }
      if (cEnd >= end) break;
      pos = cEnd;
    }
  }

  /** A contiguous view of [start, end) (copied only if it spans chunks). */
  view(start, end) {
    let pos = this.base;
    for (const c of this.chunks) {
      if (pos <= start && end <= pos + c.length) return c.subarray(start - pos, end - pos);
      if (pos + c.length > start) break;
      pos += c.length;
    }
    const out = new Uint8Array(end - start);
    this.copy(start, end, out, 0);
    return out;
  }

  /** Forget every byte before `offset`. */
  discard(offset) {
    let drop = 0;  // one splice, not a shift per chunk: tiny chunks must not make this quadratic
    while (drop < this.chunks.length && this.base + this.chunks[drop].length <= offset) {
      this.base += this.chunks[drop].length;
      drop++;
    }
    if (drop) this.chunks.splice(0, drop);
    if (this.chunks.length && this.base < offset) {
      this.chunks[0] = this.chunks[0].subarray(offset - this.base);
      this.base = offset;
    }
  }
}

function toChunk(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new AnspackError('BadArgument', `the stream yielded a ${Object.prototype.toString.call(value)}, expected Uint8Array chunks`);
}

function openSource(source) {
  if (source && typeof source === 'object' && !source.getReader && source.body && typeof source.body.getReader === 'function') {
    source = source.body; // a fetch Response
  }
  if (source && typeof source.getReader === 'function') {
    const reader = source.getReader();
    return {
      read: () => reader.read(),
      close: async (early) => {
        try {
          if (early) await reader.cancel();
        } catch (e) { /* already errored or closed */ }
        try { reader.releaseLock(); } catch (e) { /* pending read */ }
      },
    };
  }
  if (source && typeof source[Symbol.asyncIterator] === 'function') {
    const it = source[Symbol.asyncIterator]();
    return {
      read: () => it.next(),
      close: async (early) => { if (early && typeof it.return === 'function') await it.return(); },
    };
  }
  throw new AnspackError('BadArgument', `decodeStream needs a ReadableStream, a Response or an async iterable of Uint8Array chunks, got ${Object.prototype.toString.call(source)}`);
}

/**
 * Decode a file as it arrives: an async iterator that yields each tensor (the same objects as
 * decode()'s `tensors`, in table order) as soon as the bytes of its blocks have been received.
 * The prefix (header, table, metadata) is validated first, before any tensor is decoded; the stream
 * must end exactly at file_size (Truncated / SizeMismatch otherwise).
 *
 * With `workers` (or a `pool` from createDecoderPool), each tensor is decoded on a worker as soon as
 * its bytes have arrived while the next bytes are read, so download and decode overlap on several
 * cores (a chunked tensor's chunks are spread over the workers, as decodeAsync does); tensors are
 * still yielded in table order (each once it and all before it are decoded), and
 * at most `pool.size` tensors are decoded ahead of the consumer.
 *
 * @param {ReadableStream<Uint8Array> | Response | AsyncIterable<Uint8Array>} source
 * @param {object} [options]  verify, dequantize, maxEntries, maxTotalEntries as for decode(),
 *   onHeader({fileSize, metadata, tensors}) called once the prefix has been validated, and
 *   workers (number of workers to start for this stream; default 0 = decode on this thread) or
 *   pool (a createDecoderPool() pool, kept alive)
 * @returns {AsyncGenerator<object>}
 */
export async function* decodeStream(source, options = {}) {
  const opts = streamOptions(options);
  const workers = options.workers ?? 0;
  if (!Number.isInteger(workers) || workers < 0 || workers > 256) {
    throw new AnspackError('BadArgument', `workers must be an integer 0..256, got ${workers}`);
  }
  const ownPool = !options.pool && workers > 0;
  const pool = options.pool ?? (ownPool ? await createDecoderPool(workers, { workerUrl: options.workerUrl }) : null);
  try {
    yield* streamTensors(source, options, opts, pool);
  } finally {
    if (ownPool) await pool.terminate();
  }
}

async function* streamTensors(source, options, opts, pool) {
  const src = openSource(source);
  const q = new ByteQueue();
  let ended = false;
  let finished = false;
  const fill = async (upTo) => {
    while (q.received < upTo && !ended) {
      const { done, value } = await src.read();
      if (done) ended = true;
      else q.push(toChunk(value));
    }
    return q.received >= upTo;
  };
  try {
    if (!(await fill(HEADER_SIZE))) parseFixedHeader(q.view(0, q.received)); // throws (BadMagic / Truncated)
    const fixed = parseFixedHeader(q.view(0, HEADER_SIZE));
    if (!(await fill(fixed.prefixSize))) fail('Truncated', `the stream ended after ${q.received} bytes, inside the table/metadata (which end at ${fixed.prefixSize})`, q.received);
    const prefix = q.view(0, fixed.prefixSize).slice();
    let hdr;
    try {
      hdr = parsePrefix(prefix, opts);
    } catch (e) {
      // A whole-file decoder compares file_size with the actual length (rule 2) before the table
      // and layout rules: to report the same error, learn the stream's length first.
      while (!ended && q.received <= fixed.fileSize) {  // count the bytes, keep none
        const { done, value } = await src.read();
        if (done) ended = true;
        else q.received += toChunk(value).length;
      }
      if (q.received < fixed.fileSize) fail('Truncated', `file_size says ${fixed.fileSize} bytes but the stream has ${q.received}`, 16);
      if (q.received > fixed.fileSize) fail('SizeMismatch', `file_size says ${fixed.fileSize} bytes but the stream has more (at least ${q.received}, trailing bytes)`, 16);
      throw e;
    }
    let total = 0;
    for (const t of hdr.tensors) total += t.n;
    if (total > opts.maxTotalEntries) fail('LimitExceeded', `the file's tensors hold ${total} entries in all, above the limit maxTotalEntries = ${opts.maxTotalEntries}`, 40);
    if (typeof options.onHeader === 'function') {
      options.onHeader({ fileSize: hdr.fileSize, metadata: hdr.metadata, tensors: hdr.tensors.map(publicEntry) });
    }
    // With a pool: tensors in flight on the workers, in table order.
    const ahead = [];
    const next = async () => {
      const { job, sub } = ahead.shift();
      const r = await job;
      if (r.error) throw remapError(r.error, sub.mapOffset);
      return r.tensors[0];
    };
    const wopts = { verify: opts.verify, dequantize: opts.dequantize, nibbles: opts.nibbles, maxEntries: opts.maxEntries };
    let failure = null;
    for (const t of hdr.tensors) {
      try {
        if (!(await fill(t.end))) fail('Truncated', `the stream ended after ${q.received} bytes, inside the blocks of this tensor (which end at ${t.end}; file_size ${hdr.fileSize})`, q.received, t.name);
        checkZero(q, t.start, t.dataOffset, t.name);
        if (t.dequantSize > 0) checkZero(q, t.dataOffset + t.dataSize, t.dequantOffset, t.name);
      } catch (e) {
        failure = e;  // the tensors before this one still come out first
        break;
      }
      // the rANS block's chunk field Q (offset 20 in the block; validated with the block later)
      // (a row-group tensor, spec section 7.4, is spread over the workers by its sub-blocks)
      const chunked = t.coding === 'groups' || (t.coding === 'rans' && t.dataSize >= 24 && new DataView(q.view(t.dataOffset + 20, t.dataOffset + 24).slice().buffer).getUint32(0, true) > 0);
      const sub = buildSubfile(prefix, [t], (a, b, dest, at) => q.copy(a, b, dest, at));
      q.discard(t.end);
      if (pool === null) {
        yield decodeSubfile(sub, opts)[0];
      } else if (pool.size > 1 && chunked) {
        // a chunked tensor (spec section 7.2): its chunks spread over the pool's workers (async.js);
        // a row-group tensor (7.4): its sub-blocks
        ahead.push({ sub, job: pool.decode(sub.bytes, wopts).then((r) => ({ tensors: r.tensors }), (error) => ({ error })) });
        while (ahead.length > pool.size) yield await next();
      } else {
        ahead.push({ sub, job: pool.decodeSubfile(sub.bytes, wopts).then((tensors) => ({ tensors }), (error) => ({ error })) });
        while (ahead.length > pool.size) yield await next();
      }
    }
    while (ahead.length) yield await next();
    if (failure) throw failure;
    await fill(hdr.fileSize + 1);
    if (q.received > hdr.fileSize) fail('SizeMismatch', `file_size says ${hdr.fileSize} bytes but the stream has more (at least ${q.received})`, 16);
    finished = true;
  } finally {
    await src.close(!finished && !ended);
  }
}

function checkZero(q, start, end, name) {
  if (end <= start) return;
  const v = q.view(start, end);
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== 0) fail('ReservedNonZero', `padding between blocks: byte is ${v[i]}, expected 0`, start + i, name);
  }
}

function publicEntry(t) {
  return {
    name: t.name, shape: t.shape.slice(), dtype: t.dtype, coding: t.coding, n: t.n, checksum: t.checksum,
    blockChecksum: t.blockChecksum, dataOffset: t.dataOffset, dataSize: t.dataSize,
    dequantOffset: t.dequantOffset, dequantSize: t.dequantSize,
  };
}

// ------------------------------------------------------------------------------------------------
// fetchTensor

async function rangeGet(fetchFn, url, start, end, init, allowShort = false) {
  let response;
  const headers = new Headers(init?.headers ?? {});
  headers.set('Range', `bytes=${start}-${end - 1}`);
  try {
    response = await fetchFn(url, { ...init, headers });
  } catch (e) {
    throw new AnspackError('BadArgument', `fetch ${url} failed: ${e?.message ?? e}`);
  }
  if (response.status === 200) {
    // The server ignored the Range header: this is the whole file.
    return { full: true, bytes: new Uint8Array(await response.arrayBuffer()) };
  }
  if (response.status === 416) {
    throw new AnspackError('Truncated', `the server says bytes ${start}-${end - 1} are past the end of ${url} (HTTP 416)`, start);
  }
  if (response.status !== 206) {
    throw new AnspackError('BadArgument', `fetch ${url} (bytes ${start}-${end - 1}): HTTP ${response.status}`);
  }
  const cr = response.headers.get('Content-Range');
  let total = null;  // the file's length, from Content-Range: bytes a-b/total
  if (cr !== null) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(cr.trim());
    if (!m || Number(m[1]) !== start) {
      throw new AnspackError('BadArgument', `fetch ${url}: asked for bytes ${start}-${end - 1}, the server sent Content-Range ${cr}`);
    }
    if (m[3] !== '*') total = Number(m[3]);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length < end - start && !allowShort) {
    throw new AnspackError('Truncated', `fetch ${url}: asked for bytes ${start}-${end - 1}, got ${bytes.length} bytes (the file ends at ${start + bytes.length})`, start + bytes.length);
  }
  return { full: false, total, bytes: bytes.length === end - start ? bytes : bytes.subarray(0, end - start) };
}

/**
 * Fetch and decode one tensor with HTTP Range requests: the 40-byte header, then the rest of the
 * prefix (table and metadata), then exactly the tensor's data block and dequant block (with the
 * 0-7 padding bytes between them). The prefix is validated as in decodeStream, the tensor's blocks
 * as in decode(). If the server ignores Range (HTTP 200) the whole body is used instead.
 *
 * @param {string | URL} url
 * @param {string} name
 * @param {object} [options]  verify, dequantize, maxEntries as for decodeTensor(); fetch (the fetch
 *   function to use, default globalThis.fetch); init (extra fetch() options, e.g. headers)
 * @returns {Promise<object>} the tensor, as decodeTensor() returns it
 */
export async function fetchTensor(url, name, options = {}) {
  const opts = streamOptions(options);
  const fetchFn = options.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') throw new AnspackError('BadArgument', 'no fetch() available: pass options.fetch');
  const init = options.init ?? {};
  const first = await rangeGet(fetchFn, url, 0, HEADER_SIZE, init, true);  // a short file: BadMagic or Truncated below
  if (first.full) return wholeFileTensor(first.bytes, name, opts);
  const fixed = parseFixedHeader(first.bytes, first.total);
  let prefix = first.bytes;
  if (fixed.prefixSize > HEADER_SIZE) {
    const rest = await rangeGet(fetchFn, url, HEADER_SIZE, fixed.prefixSize, init);
    if (rest.full) return wholeFileTensor(rest.bytes, name, opts);
    prefix = new Uint8Array(fixed.prefixSize);
    prefix.set(first.bytes, 0);
    prefix.set(rest.bytes, HEADER_SIZE);
  }
  const hdr = parsePrefix(prefix, opts);
  const t = hdr.tensors.find((x) => x.name === name);
  if (t === undefined) throw new AnspackError('BadArgument', `no tensor named ${JSON.stringify(name)} (the file has ${hdr.tensors.length})`);
  let block = new Uint8Array(0);
  if (t.end > t.dataOffset) {
    const got = await rangeGet(fetchFn, url, t.dataOffset, t.end, init);
    if (got.full) return wholeFileTensor(got.bytes, name, opts);
    block = got.bytes;
  }
  const read = (a, b, dest, at) => dest.set(block.subarray(a - t.dataOffset, b - t.dataOffset), at);
  if (t.dequantSize > 0) {
    for (let p = t.dataOffset + t.dataSize; p < t.dequantOffset; p++) {
      const v = block[p - t.dataOffset];
      if (v !== 0) fail('ReservedNonZero', `padding before the dequant block: byte is ${v}, expected 0`, p, t.name);
    }
  }
  return decodeSubfile(buildSubfile(prefix, [t], read), opts)[0];
}

function wholeFileTensor(bytes, name, opts) {
  return decodeTensor(bytes, name, { verify: opts.verify, dequantize: opts.dequantize, nibbles: opts.nibbles, maxEntries: opts.maxEntries });
}
