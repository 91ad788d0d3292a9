// Parallel decode with workers (issue 7): Web Workers in browsers, worker_threads in node.
//
//   const { tensors, byName } = await decodeAsync(buffer, { workers: 2 });
//   // or, to keep the workers between files:
//   const pool = await createDecoderPool(2);
//   const r = await pool.decode(buffer);  ...  pool.terminate();
//
// The calling thread validates the whole prefix (header, table, metadata, layout, models and the
// header checksum: parseHeader of header.js), then splits the tensors into one group per worker
// (longest first onto the least loaded worker, cost ~ symbols + a fixed cost per tensor), sends
// each group as one or two small valid anspack files of their own (stream.js buildSubfile: a copy of
// just those tensors' blocks, ~the compressed size in all; a small one first, so that every worker
// starts early, see makeJobs) and transfers them to the worker. The worker decodes it with the ordinary
// decode() -- block checksums, stream checks and data checksums included -- and transfers the output
// arrays back (no copy), and its input buffer too, which the pool reuses for the next subfile (a
// fresh buffer would cost page faults on top of the copy). Each worker is a separate isolate with
// its own lane states and slot tables, so no cache line is shared between workers (no false
// sharing to pad against). The result is the same as decode()'s, tensors in table order.
//
// Parallelism is per tensor, and within a chunked tensor (spec section 7.2) per range of chunks: each
// chunk is an independent stream with its own lane states, so the chunks of a big tensor are split
// into contiguous ranges, each framed as a made-up tensor of its own (the rANS header with the
// range's states, chunk tables and words, the shared model; a chunked tensor again, or an unchunked
// one for a single chunk) and decoded by a worker like any other. The first range is decoded into an
// array of the whole tensor's length (see SPLIT_MIN); the calling thread copies the other ranges
// into it, checks the original block checksum and the table checksum
// (the FxHash26 of the chunk checksums: the workers check each chunk's ids against its own), and
// dequantizes. If anything about a split tensor fails, that tensor is decoded again on the calling
// thread to report exactly the error decode() reports. An unchunked tensor is one stream and goes to
// one worker whole.
//
// Row groups (coding 2, spec section 7.4): a row-group tensor costing more than a worker's share is
// split by its sub-blocks, each an independent coding-0 block and an item of its own (framed whole
// by frameBlock: a made-up coding-0 tensor of the group tensor's n_g entries, checked by the worker
// against its group checksum), a chunked sub-block above a worker's share cut into ranges of chunks
// like the rest of a split tensor. The calling thread checks the original block checksum and the
// table checksum (the FxHash26 of the stored group checksums), and copies each piece's rows straight
// to their places in the output (one pass, groups.js); any failure: decodeTensor on this thread, as
// for split tensors. A cheaper one goes to a worker whole (no copy on this thread: the worker's
// decode() puts the rows in place), as an unsplit chunked tensor does.

import { AnspackError } from './errors.js';
import { parseHeader, blockChecksum, chunkTables, align8, RANS_HEADER_SIZE, objectOption } from './header.js';
import { fxhash26Typed, fxhash26Bytes } from './fxhash.js';
import { decode, decodeTensor, ARRAY_TYPES, newOutputArray } from './index.js';
import { placeGroupPiece } from './groups.js';
import { dequantizeBlock } from './dequant.js';
import { buildSubfile, remapError, streamOptions } from './stream.js';
import { returnsNibbles, fitsNibbles, nibbleDtype } from './nibbles.js';

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
// This module's URL, for node's worker_threads: for browsers the worker's URL is written out once,
// inside `new Worker(...)` in spawnWorker, the one form bundlers recognize (a second such URL
// expression would make webpack copy worker.js as a plain asset).
const MODULE_URL = import.meta.url;

/** Number of hardware threads, as the platform reports it (at least 1). */
export async function defaultWorkerCount() {
  if (isNode) {
    const os = await import(/* webpackIgnore: true */ 'node:os');
    return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
  }
  return Math.max(1, (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1);
}

/** One worker with a promise-based request/response channel. */
async function spawnWorker(url, recycle) {
  const pending = new Map();
  let nextId = 1;
  let failAll = null;
  let worker;
  let post;
  const onMessage = (msg) => {
    const p = pending.get(msg.id);
    if (p === undefined) return;
    pending.delete(msg.id);
    if (msg.input instanceof ArrayBuffer) recycle(msg.input);
    if (isNode && pending.size === 0) worker.unref();
    if (msg.error) p.reject(msg.error);
    else p.resolve(msg.tensors);
  };
  const onError = (err) => {
    const e = new AnspackError('BadArgument', `decoder worker failed: ${err?.message ?? err}`);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    failAll = e;
  };
  if (isNode) {
    const { Worker } = await import(/* webpackIgnore: true */ 'node:worker_threads');
    worker = new Worker(url ?? new URL('./worker.js', MODULE_URL));
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', (code) => { if (pending.size) onError(new Error(`worker exited with code ${code}`)); });
    worker.unref();
    post = (msg, transfer) => worker.postMessage(msg, transfer);
  } else {
    if (typeof Worker !== 'function') throw new AnspackError('BadArgument', 'Web Workers are not available here: use decode() or workers: 0');
    // The default worker is created by this one literal expression, which Vite, webpack 5 and Parcel
    // recognize: they build worker.js (with what it imports) as a worker chunk and put its URL here.
    // Written any other way (a URL computed elsewhere and passed in), a bundler leaves it pointing next
    // to the bundle, where there is no worker.js (esbuild does not build workers: give it worker.js as
    // a second entry point, see the README).
    worker = url == null ? new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }) : new Worker(url, { type: 'module' });
    worker.onmessage = (ev) => onMessage(ev.data);
    worker.onerror = (ev) => { ev.preventDefault?.(); onError(ev.error ?? new Error(ev.message || 'worker error (could not load the module?)')); };
    worker.onmessageerror = () => onError(new Error('a message could not be deserialized'));
    post = (msg, transfer) => worker.postMessage(msg, transfer);
  }
  return {
    get busy() { return pending.size; },
    request(bytes, options) {
      if (failAll) return Promise.reject(failAll);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        if (isNode) worker.ref();
        post({ id, bytes, options }, [bytes.buffer]);
      });
    },
    terminate() {
      const e = new AnspackError('BadArgument', 'the decoder pool was terminated');
      for (const p of pending.values()) p.reject(e);
      pending.clear();
      return worker.terminate();
    },
  };
}

/**
 * Estimated decoding cost of a tensor, or of its chunks [k0, k1), in symbols decoded: a rANS tensor
 * costs its symbols plus a fixed 4096 (preparing its model, the slot table, its output array: ~15 us
 * per tensor, ~2.8 ns per symbol, measured in node on all-MiniLM-L6-v2 int4/int8), where the rows that
 * two chunks decode together (rans.js twoStreams: chunks 2j and 2j + 1 of a range, L a multiple of 4,
 * as many rows as the shorter has) count PAIRED = 0.8 each (the two-stream loop is 1.2-1.3x faster),
 * and those that four decode together (chunks 4j .. 4j + 3 of a range, L = 8: engine.js streamsAt)
 * QUAD = 0.67 (the four-stream loop is ~1.2x faster than two pairs); raw bytes an eighth each (a copy
 * and a hash) plus 1024. Without the pairing term, MiniLM int4's
 * word embeddings (23 chunks, nearly all paired) went to one worker and the 101 other tensors
 * (mostly one stream: 1-chunk tensors and the long first chunk of the 2-chunk ones) to the other,
 * which finished 5-12 ms later (node, 2 workers, ~22 ms in all).
 */
function cost(t, k0 = 0, k1 = t.chunks) {
  if (t.coding === 'groups') {
    let c = 0;
    for (const sub of t.groups) c += cost(sub);
    return c;
  }
  if (t.coding !== 'rans') return (t.n * t.itemSize) / 8 + 1024;
  if (t.n === 0) return 4096;
  const Q = t.chunkSize, N = t.symbols;
  const size = (k) => (Q > 0 ? Math.min(N, (k + 1) * Q) - k * Q : N);
  let symbols = 0, saved = 0;
  for (let k = k0; k < k1; k++) symbols += size(k);
  for (let k = k0; k < k1;) {
    // the chunks decoded together from chunk k, as streamsAt (engine.js) groups them
    const q = t.lanes === 8 && k + 3 < k1 ? 4 : t.lanes % 4 === 0 && k + 1 < k1 ? 2 : 1;
    let rows = Infinity;
    for (let j = k; j < k + q; j++) rows = Math.min(rows, size(j));
    if (q > 1) saved += q * rows * (1 - (q === 4 ? QUAD : PAIRED));
    k += q;
  }
  const decoded = symbols - saved;
  return (t.vocabSize === 1 ? symbols / 64 : decoded) + 4096;
}
const PAIRED = 0.8;
const QUAD = 0.67;

/**
 * How many workers a file can keep busy: one per unchunked tensor, one per chunk of a chunked one,
 * and for a row-group tensor (spec section 7.4) the same per sub-block.
 */
function parallelism(tensors) {
  let p = 0;
  for (const t of tensors) p += t.coding === 'groups' ? parallelism(t.groups) : t.coding === 'rans' && t.chunks > 1 ? t.chunks : 1;
  return p;
}

/**
 * Ranges of chunks [k0, k1) to split chunks [from, K) of a chunked tensor into: about `parts` of them
 * with about equal numbers of chunks. A range of one chunk becomes an unchunked made-up tensor, which
 * needs at least L symbols: a short last chunk alone is merged into the range before it.
 */
function chunkRanges(t, parts, from = 0) {
  const K = t.chunks;
  const r = Math.max(1, Math.min(K - from, parts));
  const bounds = [];
  for (let j = 0; j <= r; j++) bounds.push(from + Math.round((j * (K - from)) / r));
  const ranges = [];
  for (let j = 0; j < r; j++) if (bounds[j + 1] > bounds[j]) ranges.push([bounds[j], bounds[j + 1]]);
  const last = ranges[ranges.length - 1];
  if (ranges.length > 1 && last[1] - last[0] === 1 && t.symbols - (K - 1) * t.chunkSize < t.lanes) {
    ranges.pop();
    ranges[ranges.length - 1][1] = K;
  }
  return ranges;
}

/**
 * A chunked tensor costing more than SPLIT_MIN = 1 worker's share (no partition can balance it whole)
 * is split: its first chunks, up to HOME_SHARE of a share (the "home" range), go to one worker, which
 * decodes them into an output array of the whole tensor's length (worker option `capacity`); the rest
 * is cut into ranges of about a quarter of a share (two chunks at least), which the partition places
 * like any other item, and which the calling thread copies into the home range's array (the result)
 * once they are back: only those ranges are copied. Splitting a tensor into equal ranges all copied
 * into a fresh array measured worse than not splitting (Chromium, MiniLM int8: 2 workers 1.14x one
 * worker against 1.94x). all-MiniLM-L6-v2's word embeddings (52 % of the entries) cost 0.90 (int4)
 * and 0.97 (int8) of a share of 2 workers by cost(): they go whole. Measured with the split rule,
 * the two-part jobs, the fixed cost per tensor and twoStreams in workers (before the pairing term of
 * cost(), which only changed the balance): node, MiniLM int4, 2 workers 27.0 -> 23.2 ms (best of 15;
 * one worker 36.0 ms), int8 39.3 -> 36.2 ms (one worker 60.1); headless Chromium int4 32.0 -> 29.1 ms,
 * int8 44.9 -> 41.8 ms (best of 13, old and new in the same runs; 2 cores shared with other jobs).
 */
const SPLIT_MIN = 1;
const HOME_SHARE = 0.9;

/**
 * The work items of a file for k workers: whole tensors, and ranges of chunks of the chunked tensors
 * that cost more than SPLIT_MIN workers' shares (when k > 1), each range a made-up tensor with a name
 * no tensor of the file has; and the jobs (see makeJobs).
 * @returns {{items: object[], split: Map<number, number[][]>, grouped: Map<number, object[]>,
 *   groups: number[][], jobs: object[]}} split: tensor index -> its ranges [k0, k1, item index], the
 *   first one the home range (its item has home: true); grouped: row-group tensor index -> its
 *   items {g, k0, k1, item} (k0 undefined: the whole sub-block); groups: item indices per worker;
 *   jobs: see makeJobs
 */
function planItems(tensors, k, splittable = () => true) {
  const names = new Set(tensors.map((t) => t.name));
  const items = [];
  const split = new Map();
  const grouped = new Map();
  let total = 0;
  for (const t of tensors) total += cost(t);
  const share = total / k;
  const uniqueName = (name) => {
    while (names.has(name)) name += '_';
    names.add(name);
    return name;
  };
  tensors.forEach((t, i) => {
    if (k > 1 && t.coding === 'groups' && splittable(t) && cost(t) > SPLIT_MIN * share) {
      // Row groups (spec section 7.4) above a worker's share (below it, the tensor goes whole to a
      // worker, whose decode() permutes the rows in place, like any tensor): each sub-block is an
      // independent coding-0 block, an item of its own; a chunked one above a worker's share is cut
      // into ranges of about a quarter of a share (two chunks at least), as the rest of a split tensor below.
      const parts = [];
      t.groups.forEach((sub, g) => {
        let ranges = [];
        if (sub.chunks > 1 && cost(sub) > SPLIT_MIN * share) {
          ranges = chunkRanges(sub, Math.min(Math.ceil((4 * cost(sub)) / share), Math.max(1, Math.floor(sub.chunks / 2))));
        }
        if (ranges.length < 2) ranges = [[undefined, undefined]];
        for (const [k0, k1] of ranges) {
          const name = uniqueName(`${t.name}\u0000group ${g}${k0 === undefined ? '' : ` chunks ${k0}-${k1}`}`);
          parts.push({ g, k0, k1, item: items.length });
          items.push({ tensor: i, group: g, k0, k1, name, cost: k0 === undefined ? cost(sub) : cost(sub, k0, k1) });
        }
      });
      grouped.set(i, parts);
      return;
    }
    if (k > 1 && t.coding === 'rans' && t.chunks > 1 && splittable(t) && cost(t) > SPLIT_MIN * share) {
      // home: the most chunks [0, h) costing at most HOME_SHARE of a share (at least one)
      let h = 1;
      while (h < t.chunks - 1 && cost(t, 0, h + 1) <= HOME_SHARE * share) h++;
      // A range of one chunk is an unchunked made-up tensor, which needs at least L symbols: a short
      // last chunk is not left alone (h = 0: a 2-chunk tensor with a short last chunk stays whole).
      if (h === t.chunks - 1 && t.symbols - h * t.chunkSize < t.lanes) h--;
      // the rest: ranges of about a quarter of a share, of two chunks at least (a pair for twoStreams)
      const ranges = h === 0 ? [] : chunkRanges(t, Math.min(Math.ceil((4 * cost(t, h)) / share), Math.max(1, Math.floor((t.chunks - h) / 2))), h);
      if (ranges.length > 0) {
        const parts = [];
        for (const [k0, k1] of [[0, h], ...ranges]) {
          const name = uniqueName(`${t.name}\u0000chunks ${k0}-${k1}`);
          parts.push([k0, k1, items.length]);
          items.push({ tensor: i, k0, k1, name, cost: cost(t, k0, k1), home: k0 === 0 });
        }
        split.set(i, parts);
        return;
      }
    }
    items.push({ tensor: i, cost: cost(t) });
  });
  const groups = partition(items, k);
  return { items, split, grouped, groups, jobs: makeJobs(items, groups) };
}

/** Split work items into at most k groups, balancing their cost (longest first, least loaded). */
function partition(items, k) {
  const order = items.map((t, i) => i).sort((a, b) => items[b].cost - items[a].cost || a - b);
  const groups = Array.from({ length: k }, () => ({ load: 0, idx: [] }));
  for (const i of order) {
    let g = groups[0];
    for (const h of groups) if (h.load < g.load) g = h;
    g.load += items[i].cost;
    g.idx.push(i);
  }
  return groups.filter((g) => g.idx.length > 0).map((g) => g.idx.sort((a, b) => a - b));
}

/**
 * The jobs (one subfile each) of the groups, in the order they are built and posted: each group
 * of several items is sent as two subfiles, a small one first (its cheapest items, about a
 * FIRST_JOB-th of its cost) and then the rest; all the first ones go out before the second ones,
 * cheapest first. So every worker starts after ~one small copy instead of waiting for the subfiles
 * of the workers before it (node, all-MiniLM-L6-v2 int8, one subfile per worker: the second worker
 * started 2.3 ms after the first). The second ones go out in the same order of workers: the worker
 * whose first job went out first and costs least is the first to be idle (built in group order, the
 * second subfile of the worker with the cheaper first job came last: in node, MiniLM int8, that
 * worker waited ~2.5 ms for it). Each job: {worker, idx: item indices in table order, cost}.
 */
function makeJobs(items, groups) {
  const first = [], rest = [];
  groups.forEach((idx, worker) => {
    const order = [...idx].sort((a, b) => items[a].cost - items[b].cost || a - b);
    let total = 0;
    for (const j of idx) total += items[j].cost;
    let n = 0, c = 0;
    while (n < order.length - 1 && c < total / FIRST_JOB) c += items[order[n++]].cost;
    if (n === 0) n = order.length;
    first.push({ worker, idx: order.slice(0, n).sort((a, b) => a - b), cost: c || total });
    if (n < order.length) rest.push({ worker, idx: order.slice(n).sort((a, b) => a - b), cost: total - c });
  });
  first.sort((a, b) => a.cost - b.cost);
  const rank = new Map(first.map((job, q) => [job.worker, q]));
  rest.sort((a, b) => rank.get(a.worker) - rank.get(b.worker));
  return [...first, ...rest];
}
const FIRST_JOB = 16;

/**
 * Which tensors planItems may split under decode options `opts`. With nibbles (nibbles.js) a worker
 * packs every piece whose values fit in 4 bits, as a piece has no dequant block: a tensor is split
 * only where its pieces come back as the tensor does -- its values do not fit, or it is returned as
 * nibbles and is PAIRS (its pieces' bytes, one per pair, are put together as entries are; other
 * pieces would be packed apart) -- and a row-group tensor (whose sub-blocks may fit where the tensor
 * does not) not at all.
 */
function splittableFor(bytes, opts) {
  if (!opts.nibbles) return () => true;
  return (t) => t.coding === 'rans' && (!fitsNibbles(bytes, t) || (returnsNibbles(bytes, t, opts) && t.pairs));
}

/** Internals, for the tests. */
export const __test = { chunkRanges, planItems, splittableFor };

/**
 * Frame chunks [k0, k1) of a chunked rANS tensor as a made-up one-dimensional tensor (spec section
 * 7): the same model and mode, the range's lane states and words; chunked with the same Q (and the
 * range's chunk tables) when it holds two chunks or more, else one unchunked stream; its checksum
 * and block checksum computed for it. For stream.js buildSubfile.
 */
function frameChunks(bytes, t, k0, k1, name) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const K = t.chunks, L = t.lanes, Q = t.chunkSize;
  const chunked = k1 - k0 >= 2;
  const { chunkWords, chunkChecksums } = chunkTables(dv, t);
  let w0 = 0, w1 = 0;
  for (let k = 0; k < k1; k++) {
    if (k < k0) w0 += chunkWords[k];
    w1 += chunkWords[k];
  }
  const symbols = Math.min(t.symbols, k1 * Q) - k0 * Q;
  const n = t.pairs ? 2 * symbols : symbols;
  const model = bytes.subarray(t.valuesOffset, t.wordsOffset);  // values, padding, CDF (with PRODUCT: the entries')
  const side = RANS_HEADER_SIZE + 4 * L * (k1 - k0) + (chunked ? 8 * (k1 - k0) : 0) + model.length;
  const data = new Uint8Array(side);  // the block's bytes before its words (the words are copied by write)
  const d = new DataView(data.buffer);
  d.setUint32(0, t.vocabSize, true);
  d.setUint32(4, L, true);
  d.setUint32(8, w1 - w0, true);  // W < 2^31 (a tensor's symbols are)
  data[16] = t.precision;
  data[17] = t.mode;  // PAIRS, PRODUCT as the tensor's: the model bytes are copied as they are
  d.setUint32(20, chunked ? Q : 0, true);
  let p = RANS_HEADER_SIZE;
  data.set(bytes.subarray(t.statesOffset + 4 * L * k0, t.statesOffset + 4 * L * k1), p);
  p += 4 * L * (k1 - k0);
  const sums = bytes.subarray(t.chunkTableOffset + 4 * K + 4 * k0, t.chunkTableOffset + 4 * K + 4 * k1);
  if (chunked) {
    data.set(bytes.subarray(t.chunkTableOffset + 4 * k0, t.chunkTableOffset + 4 * k1), p);
    data.set(sums, p + 4 * (k1 - k0));
    p += 8 * (k1 - k0);
  }
  data.set(model, p);
  const words = bytes.subarray(t.wordsOffset + 2 * w0, t.wordsOffset + 2 * w1);
  const stored = chunkChecksums.subarray(k0, k1);
  const nameBytes = new TextEncoder().encode(name);
  const entrySize = 48 + 8 + align8(nameBytes.length);
  const entry = new Uint8Array(entrySize);
  const e = new DataView(entry.buffer);
  e.setUint32(8, side + words.length, true);  // data_size (offsets are set by buildSubfile)
  e.setUint32(32, chunked ? fxhash26Typed(stored) : stored[0], true);
  entry[36] = t.dtypeCode;
  entry[37] = 0;
  entry[38] = 1;
  e.setUint16(40, nameBytes.length, true);
  e.setUint32(44, fxhash26Bytes(data, 0, side, 0), true);
  e.setUint32(48, n % 0x100000000, true);
  e.setUint32(52, Math.floor(n / 0x100000000), true);
  entry.set(nameBytes, 56);
  const write = (dest, at) => { dest.set(data, at); dest.set(words, at + side); };
  return { synthetic: true, name, entry, entrySize, write, dataSize: side + words.length, dequantSize: 0, dequantOffset: 0 };
}

/**
 * Frame a whole coding-0 block -- a row group's sub-block (spec section 7.4) -- as a made-up
 * one-dimensional tensor of its n_g entries: the block's bytes as they are, the group checksum as
 * its table checksum (for a chunked sub-block that is again the FxHash26 of its chunk checksums),
 * its block checksum computed for it. For stream.js buildSubfile.
 */
function frameBlock(bytes, sub, name) {
  const nameBytes = new TextEncoder().encode(name);
  const entrySize = 48 + 8 + align8(nameBytes.length);
  const entry = new Uint8Array(entrySize);
  const e = new DataView(entry.buffer);
  e.setUint32(8, sub.dataSize % 0x100000000, true);  // data_size (offsets are set by buildSubfile)
  e.setUint32(12, Math.floor(sub.dataSize / 0x100000000), true);
  e.setUint32(32, sub.checksum, true);
  entry[36] = sub.dtypeCode;
  entry[37] = 0;
  entry[38] = 1;
  e.setUint16(40, nameBytes.length, true);
  e.setUint32(44, fxhash26Bytes(bytes, sub.dataOffset, sub.wordsOffset, 0), true);
  e.setUint32(48, sub.n % 0x100000000, true);
  e.setUint32(52, Math.floor(sub.n / 0x100000000), true);
  entry.set(nameBytes, 56);
  const block = bytes.subarray(sub.dataOffset, sub.dataOffset + sub.dataSize);
  const write = (dest, at) => dest.set(block, at);
  return { synthetic: true, name, entry, entrySize, write, dataSize: sub.dataSize, dequantSize: 0, dequantOffset: 0 };
}

/**
 * A pool of decoding workers.
 *
 * @param {number} [size]  number of workers (default: the hardware concurrency)
 * @param {{workerUrl?: string | URL}} [options]  where worker.js is (default: next to this module)
 * @returns {Promise<{size: number, decode: (buffer, options?) => Promise<object>, terminate: () => Promise<void>}>}
 */
export async function createDecoderPool(size, options = {}) {
  const n = size ?? (await defaultWorkerCount());
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new AnspackError('BadArgument', `the pool size must be an integer 1..256, got ${n}`);
  const url = options.workerUrl ?? null;  // null: worker.js next to this module (spawnWorker)
  // Spare input buffers sent back by the workers, reused for the next subfiles (a fresh buffer
  // costs page faults on top of the copy): at most two per worker, smallest fitting one first.
  const spare = [];
  const recycle = (buf) => {
    if (closed) return;
    spare.push(buf);
    spare.sort((a, b) => a.byteLength - b.byteLength);
    if (spare.length > 2 * n) spare.shift();
  };
  const getBuffer = (size) => {
    const i = spare.findIndex((b) => b.byteLength >= size);
    if (i >= 0) return spare.splice(i, 1)[0];
    return new ArrayBuffer(size <= 1 << 16 ? size : Math.ceil(size / (1 << 20)) * (1 << 20));  // reusable sizes
  };
  let closed = false;
  const workers = await Promise.all(Array.from({ length: n }, () => spawnWorker(url, recycle)));
  return {
    size: n,
    decode: (buffer, opts = {}) => {
      if (closed) return Promise.reject(new AnspackError('BadArgument', 'the decoder pool was terminated'));
      return decodeWith(workers, buffer, opts, getBuffer);
    },
    /**
     * Decode one subfile (stream.js buildSubfile; its buffer is transferred) on the least busy
     * worker. Resolves to its tensors; rejects with the worker's error as a plain object
     * {name, code, message, offset, tensor} (offsets in subfile coordinates), or an AnspackError.
     */
    decodeSubfile: (bytes, opts = {}) => {
      if (closed) return Promise.reject(new AnspackError('BadArgument', 'the decoder pool was terminated'));
      let w = workers[0];
      for (const x of workers) if (x.busy < w.busy) w = x;
      return w.request(bytes, { verify: opts.verify ?? true, dequantize: opts.dequantize ?? false, nibbles: opts.nibbles ?? false, maxEntries: opts.maxEntries });
    },
    async terminate() {
      closed = true;
      spare.length = 0;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

async function decodeWith(workers, buffer, options, getBuffer) {
  const opts = streamOptions(options);
  const hdr = parseHeader(buffer, { maxEntries: opts.maxEntries, verify: opts.verify });
  const { bytes } = hdr;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let total = 0;
  for (const t of hdr.tensors) {
    total += t.n;
    t.entrySize = 48 + 8 * t.shape.length + align8(dv.getUint16(t.entryOffset + 40, true));
  }
  if (total > opts.maxTotalEntries) {
    throw new AnspackError('LimitExceeded', `the file's tensors hold ${total} entries in all, above the limit maxTotalEntries = ${opts.maxTotalEntries}`, { offset: 40 });
  }
  const packed = (t) => returnsNibbles(bytes, t, opts);
  const { items, split, grouped, jobs } = planItems(hdr.tensors, workers.length, splittableFor(bytes, opts));
  const read = (a, b, dest, at) => dest.set(bytes.subarray(a, b), at);
  // twoStreams (rans.js: two chunks of a tensor in one loop, two FxHash26 chains side by side) also
  // in workers: in node, two workers each decoding all of all-MiniLM-L6-v2 at once took 54.4 ms
  // (int8) and 34.0 ms (int4) per file with it, 62.7 and 37.4 ms without; in headless Chromium, 2
  // workers decoded the int8 file in 37.2 ms with it, 41.7 ms without (best of 12, same run).
  const wopts = { verify: opts.verify, dequantize: opts.dequantize, nibbles: opts.nibbles, maxEntries: opts.maxEntries, twoStreams: true };
  // The output array of each split row-group tensor (the caller's, or a new one), into which the
  // rows of its pieces are copied as they come back; null for a caller's array of the wrong type.
  const placed = new Map();
  const placedOf = (i) => {
    if (!placed.has(i)) {
      const t = hdr.tensors[i];
      const Ctor = ARRAY_TYPES[t.dtype];
      const out = options.outputs?.[t.name];
      let dest = null;
      if (out === undefined || out === null) dest = newOutputArray(Ctor, t.n);
      else if (out instanceof Ctor && out.length >= t.n) dest = out.length === t.n ? out : out.subarray(0, t.n);
      placed.set(i, dest);
    }
    return placed.get(i);
  };
  // Each job's subfile is built and posted in turn (makeJobs orders them), so the first workers
  // start while the later subfiles are built.
  const results = await Promise.all(jobs.map(({ worker, idx }) => {
    let capacity = null;
    const members = idx.map((j) => {
      const it = items[j];
      const t = hdr.tensors[it.tensor];
      if (it.group !== undefined) {
        // a row group's sub-block (spec section 7.4), whole or a range of its chunks
        const sub = t.groups[it.group];
        return it.k0 === undefined ? frameBlock(bytes, sub, it.name) : frameChunks(bytes, sub, it.k0, it.k1, it.name);
      }
      if (it.k0 === undefined) return t;
      // the home range: decoded into an array of the whole tensor's length (see SPLIT_MIN)
      if (it.home && !options.outputs?.[t.name]) (capacity ??= {})[it.name] = packed(t) ? ['uint8', t.n / 2] : [t.dtype, t.n];
      return frameChunks(bytes, t, it.k0, it.k1, it.name);
    });
    const sub = buildSubfile(bytes, members, read, getBuffer);
    return workers[worker].request(sub.bytes, capacity ? { ...wopts, capacity } : wopts).then(
      (tensors) => {
        // row-group pieces: their rows copied to their places now, while the other workers decode
        idx.forEach((j, q) => {
          const it = items[j];
          if (it.group === undefined) return;
          const dest = placedOf(it.tensor);
          if (dest === null) return;  // a caller's output array of the wrong type: assembleGroups redoes it
          const sub = hdr.tensors[it.tensor].groups[it.group];
          placeGroupPiece(hdr.tensors[it.tensor], it.group, tensors[q].data, it.k0 === undefined ? 0 : it.k0 * sub.chunkSize * (sub.pairs ? 2 : 1), dest);
        });
        return { idx, tensors };
      },
      (error) => ({ idx, error, mapOffset: sub.mapOffset }));
  }));
  // What each item came back as: its decoded tensor, or the error (for the whole job).
  const got = new Array(items.length);
  for (const r of results) {
    if (r.error && (r.error.code == null || (r.error instanceof AnspackError && r.error.code === 'BadArgument'))) {
      // not an error of the file (a worker failed): report it as such
      if (r.error instanceof AnspackError) throw r.error;
      throw new AnspackError('BadArgument', `decoder worker error: ${r.error.message}`);
    }
    r.idx.forEach((j, q) => { got[j] = r.error ? { error: r } : { tensor: r.tensors[q] }; });
  }
  const tensors = new Array(hdr.tensors.length);
  // Tensors in table order; the first one that fails is reported (deterministic, as decode()).
  for (let i = 0; i < hdr.tensors.length; i++) {
    const t = hdr.tensors[i];
    if (grouped.has(i)) {
      tensors[i] = assembleGroups(bytes, t, grouped.get(i).map((p) => ({ ...p, r: got[p.item] })), opts, options.outputs?.[t.name], placed.get(i));
      continue;
    }
    const parts = split.get(i);
    if (parts === undefined) {
      const j = items.findIndex((it) => it.tensor === i);
      const r = got[j];
      if (r.error) {
        const e = r.error.error;
        // The group's error is about this tensor, or about one after it in the group (then this one
        // is fine, but its result is lost with the group's): decode it here to know.
        if (e.tensor === t.name) throw remapError(e, r.error.mapOffset);
        tensors[i] = decodeTensor(bytes, t.name, wopts);
      } else {
        tensors[i] = r.tensor;
      }
      continue;
    }
    tensors[i] = assemble(bytes, t, parts.map(([k0, k1, j]) => ({ k0, k1, r: got[j] })), opts, options.outputs?.[t.name]);
  }
  const outputs = options.outputs;
  if (outputs) {
    // decode()'s `outputs` option: copy into the caller's arrays (tensors returned dequantized excepted;
    // as nibbles: the packed bytes)
    for (const t of tensors) {
      const o = outputs[t.name];
      if (o === undefined || o === null || (t.dtype === 'float32' && t.storedDtype !== undefined) || o === t.data || (t.data.buffer === o.buffer && t.data.byteOffset === o.byteOffset)) continue;
      const Ctor = t.data.constructor;
      if (!(o instanceof Ctor) || o.length < t.data.length) {
        throw new AnspackError('BadArgument', `output for tensor ${JSON.stringify(t.name)} must be a ${Ctor.name} of length >= ${t.data.length}`, { tensor: t.name });
      }
      const view = o.length === t.data.length ? o : o.subarray(0, t.data.length);
      view.set(t.data);
      t.data = view;
    }
  }
  const byName = Object.create(null);
  for (const t of tensors) byName[t.name] = t;
  return { tensors, byName, metadata: hdr.metadata };
}

/**
 * A split chunked tensor from its decoded ranges: the checks the workers could not make (the
 * original block checksum, the table checksum over the chunk checksums), the ranges copied into
 * one output array, dequantization. On any failure, the tensor is decoded on this thread with
 * decodeTensor (which throws exactly what decode() throws for it).
 */
function assemble(bytes, t, parts, opts, out) {
  const redo = () => decodeTensor(bytes, t.name, { verify: opts.verify, dequantize: opts.dequantize, nibbles: opts.nibbles, maxEntries: opts.maxEntries, out });
  if (parts.some((p) => p.r.error)) return redo();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const checksum = chunkTables(dv, t).tableChecksum;
  if (opts.verify && (blockChecksum(bytes, t) !== t.blockChecksum || checksum !== t.checksum)) return redo();
  // returned as nibbles (a PAIRS tensor, see planItems): the ranges are packed bytes, one per symbol
  const nib = returnsNibbles(bytes, t, opts);
  const Ctor = nib ? Uint8Array : ARRAY_TYPES[t.dtype];
  const length = nib ? t.n / 2 : t.n;
  let data;
  if (out !== undefined && out !== null) {
    if (!(out instanceof Ctor) || out.length < length) return redo();  // decodeTensor reports it
    data = out.length === length ? out : out.subarray(0, length);
  } else {
    // the home range came back in an array of the whole tensor's length: the result (see SPLIT_MIN)
    const home = parts[0].r.tensor.data;
    const whole = home instanceof Ctor && home.byteOffset === 0 && home.buffer.byteLength === length * Ctor.BYTES_PER_ELEMENT;
    data = whole ? new Ctor(home.buffer, 0, length) : new Ctor(length);
  }
  const per = nib ? 1 : t.pairs ? 2 : 1;  // elements of data per symbol
  for (const { k0, r } of parts) {
    const d = r.tensor.data;
    if (d.buffer !== data.buffer || d.byteOffset !== data.byteOffset + k0 * t.chunkSize * per * d.BYTES_PER_ELEMENT) data.set(d, k0 * t.chunkSize * per);
  }
  const tensor = { name: t.name, shape: t.shape.slice(), dtype: t.dtype, data, checksum };
  if (nib) {
    tensor.dtype = nibbleDtype(t.dtype);
    tensor.storedDtype = t.dtype;
  }
  if (opts.dequantize && t.dequantSize > 0) {
    tensor.data = dequantizeBlock(dv, t.dequantOffset, t.dequantSize, data, { name: t.name, shape: t.shape.slice(), dtype: t.dtype });
    tensor.storedDtype = t.dtype;
    tensor.dtype = 'float32';
  }
  return tensor;
}

/**
 * A row-group tensor (spec section 7.4) from its decoded sub-blocks (whole, or ranges of a chunked
 * one's chunks), whose rows decodeWith copied to their places in `data` as each came back: the
 * checks the workers could not make (the original block checksum, the table checksum over the
 * stored group checksums, and for a sub-block decoded in ranges the hash of its chunk checksums
 * against its group checksum; the workers checked everything else, each whole sub-block against its
 * group checksum), then dequantization. On any failure (or without `data`: a caller's output array
 * of the wrong type), the tensor is decoded on this thread with decodeTensor (which throws exactly
 * what decode() throws).
 */
function assembleGroups(bytes, t, parts, opts, out, data) {
  const redo = () => decodeTensor(bytes, t.name, { verify: opts.verify, dequantize: opts.dequantize, nibbles: opts.nibbles, maxEntries: opts.maxEntries, out });
  if (parts.some((p) => p.r.error) || !data) return redo();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (opts.verify) {
    if (blockChecksum(bytes, t) !== t.blockChecksum || t.tableChecksum !== t.checksum) return redo();
    for (const p of parts) {
      const sub = t.groups[p.g];
      if (p.k0 === 0 && chunkTables(dv, sub).tableChecksum !== sub.checksum) return redo();
    }
  }
  const tensor = { name: t.name, shape: t.shape.slice(), dtype: t.dtype, data, checksum: t.tableChecksum };
  if (opts.dequantize && t.dequantSize > 0) {
    tensor.data = dequantizeBlock(dv, t.dequantOffset, t.dequantSize, data, { name: t.name, shape: t.shape.slice(), dtype: t.dtype });
    tensor.storedDtype = t.dtype;
    tensor.dtype = 'float32';
  }
  return tensor;
}

/**
 * Decode every tensor of a file on worker threads; resolves to what decode() returns.
 *
 * @param {ArrayBuffer | ArrayBufferView} buffer  the whole file (not modified or detached)
 * @param {object} [options]  verify, dequantize, nibbles, maxEntries, maxTotalEntries, outputs as for decode()
 *   (outputs are filled by a copy from the workers' arrays), and workers: number of workers (default: hardware concurrency, at most one per tensor or chunk; 0 = decode
 *   on the calling thread), or pool: a createDecoderPool() pool to use (kept alive)
 * @returns {Promise<{tensors: object[], byName: Object<string, object>, metadata: object}>}
 */
export async function decodeAsync(buffer, options = {}) {
  objectOption(options);
  const { workers, pool, workerUrl, ...rest } = options;
  if (pool) return pool.decode(buffer, rest);
  if (workers === 0) {
    streamOptions(rest);
    return decode(buffer, rest);
  }
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 0 || workers > 256)) {
    throw new AnspackError('BadArgument', `workers must be an integer 0..256, got ${workers}`);
  }
  const hdr = parseHeader(buffer, { maxEntries: rest.maxEntries, verify: rest.verify ?? true });
  if (hdr.tensors.length === 0) return decode(buffer, rest);  // nothing to hand out
  const k = Math.max(1, Math.min(workers ?? (await defaultWorkerCount()), parallelism(hdr.tensors)));
  const p = await createDecoderPool(k, { workerUrl });
  try {
    return await p.decode(buffer, rest);
  } finally {
    await p.terminate();
  }
}
