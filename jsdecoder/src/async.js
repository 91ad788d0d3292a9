// Parallel decode with workers (issue 7): Web Workers in browsers, worker_threads in node.
//
//   const { tensors, byName } = await decodeAsync(buffer, { workers: 2 });
//   // or, to keep the workers between files:
//   const pool = await createDecoderPool(2);
//   const r = await pool.decode(buffer);  ...  pool.terminate();
//
// The calling thread validates the whole prefix (header, table, metadata, layout, models and the
// header checksum: parseHeader of header.js), then splits the tensors into one group per worker
// (longest first onto the least loaded worker, cost ~ entries), frames each group as a small valid
// anspack file of its own (stream.js buildSubfile: a copy of just those tensors' blocks, ~the
// compressed size in all) and transfers it to the worker. The worker decodes it with the ordinary
// decode() -- block checksums, stream checks and data checksums included -- and transfers the output
// arrays back (no copy), and its input buffer too, which the pool reuses for the next subfile (a
// fresh buffer would cost page faults on top of the copy). Each worker is a separate isolate with
// its own lane states and slot tables, so no cache line is shared between workers (no false
// sharing to pad against). The result is the same as decode()'s, tensors in table order.
//
// Parallelism is per tensor: a file whose largest tensor holds most of the entries cannot go faster
// than that tensor's decode (interleaved lanes share one word stream, so a tensor cannot be split
// without extra side information in the format).

import { AnspackError } from './errors.js';
import { parseHeader } from './header.js';
import { decode } from './index.js';
import { buildSubfile, remapError, streamOptions } from './stream.js';

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;

const align8 = (x) => Math.ceil(x / 8) * 8;

/** Number of hardware threads, as the platform reports it (at least 1). */
export async function defaultWorkerCount() {
  if (isNode) {
    const os = await import('node:os');
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
    const { Worker } = await import('node:worker_threads');
    worker = new Worker(url);
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', (code) => { if (pending.size) onError(new Error(`worker exited with code ${code}`)); });
    worker.unref();
    post = (msg, transfer) => worker.postMessage(msg, transfer);
  } else {
    if (typeof Worker !== 'function') throw new AnspackError('BadArgument', 'Web Workers are not available here: use decode() or workers: 0');
    worker = new Worker(url, { type: 'module' });
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

/** Split tensors into at most k groups, balancing estimated cost (longest first, least loaded). */
function partition(tensors, k) {
  const cost = (t) => (t.coding === 'rans' ? (t.vocabSize === 1 ? t.n / 64 : t.n) : (t.n * t.itemSize) / 16) + 256;
  const order = tensors.map((t, i) => i).sort((a, b) => cost(tensors[b]) - cost(tensors[a]) || a - b);
  const groups = Array.from({ length: k }, () => ({ load: 0, idx: [] }));
  for (const i of order) {
    let g = groups[0];
    for (const h of groups) if (h.load < g.load) g = h;
    g.load += cost(tensors[i]);
    g.idx.push(i);
  }
  return groups.filter((g) => g.idx.length > 0).map((g) => g.idx.sort((a, b) => a - b));
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
  const url = options.workerUrl ?? new URL('./worker.js', import.meta.url);
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
      return w.request(bytes, { verify: opts.verify ?? true, dequantize: opts.dequantize ?? false, maxEntries: opts.maxEntries });
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
  const groups = partition(hdr.tensors, workers.length);
  const read = (a, b, dest, at) => dest.set(bytes.subarray(a, b), at);
  const wopts = { verify: opts.verify, dequantize: opts.dequantize, maxEntries: opts.maxEntries };
  const jobs = groups.map((idx, g) => {
    const sub = buildSubfile(bytes, idx.map((i) => hdr.tensors[i]), read, getBuffer);
    return workers[g].request(sub.bytes, wopts).then(
      (tensors) => ({ idx, tensors }),
      (error) => ({ idx, error, mapOffset: sub.mapOffset }));
  });
  const results = await Promise.all(jobs);
  // Report the failure of the first failing tensor in table order (deterministic).
  let firstError = null;
  for (const r of results) {
    if (!r.error) continue;
    const pos = r.error.tensor != null ? hdr.tensors.findIndex((t) => t.name === r.error.tensor) : r.idx[0];
    if (firstError === null || pos < firstError.pos) firstError = { pos, r };
  }
  if (firstError) {
    const { r } = firstError;
    if (r.error instanceof AnspackError && r.error.code === 'BadArgument') throw r.error;
    if (r.error.code == null) throw new AnspackError('BadArgument', `decoder worker error: ${r.error.message}`);
    throw remapError(r.error, r.mapOffset);
  }
  const tensors = new Array(hdr.tensors.length);
  for (const r of results) r.idx.forEach((i, j) => { tensors[i] = r.tensors[j]; });
  const outputs = options.outputs;
  if (outputs) {
    // decode()'s `outputs` option: copy into the caller's arrays (tensors returned dequantized excepted)
    for (const t of tensors) {
      const o = outputs[t.name];
      if (o === undefined || o === null || t.storedDtype !== undefined) continue;
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
 * Decode every tensor of a file on worker threads; resolves to what decode() returns.
 *
 * @param {ArrayBuffer | ArrayBufferView} buffer  the whole file (not modified or detached)
 * @param {object} [options]  verify, dequantize, maxEntries, maxTotalEntries, outputs as for decode()
 *   (outputs are filled by a copy from the workers' arrays), and workers: number of workers (default: hardware concurrency, at most one per tensor; 0 = decode
 *   on the calling thread), or pool: a createDecoderPool() pool to use (kept alive)
 * @returns {Promise<{tensors: object[], byName: Object<string, object>, metadata: object}>}
 */
export async function decodeAsync(buffer, options = {}) {
  if (options === null || typeof options !== 'object') throw new AnspackError('BadArgument', `options must be an object, got ${options}`);
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
  const k = Math.max(1, Math.min(workers ?? (await defaultWorkerCount()), hdr.tensors.length));
  const p = await createDecoderPool(k, { workerUrl });
  try {
    return await p.decode(buffer, rest);
  } finally {
    await p.terminate();
  }
}
