// The decoding worker behind decodeAsync (async.js): a Web Worker (module type) in browsers, a
// worker_threads Worker in node. Each message carries a self-contained anspack "subfile" (some
// tensors of the caller's file framed as a valid file, see stream.js buildSubfile) as a transferred
// ArrayBuffer; the worker decodes it with the ordinary decode() and transfers the output arrays back.
//
// message in : { id, bytes: Uint8Array, options: {verify, dequantize, maxEntries, twoStreams, capacity?} }
// message out: { id, tensors: [{name, shape, dtype, storedDtype?, data, checksum}], input }
//           or { id, error: {name, code, message, offset, tensor}, input }
// (input: the message's ArrayBuffer, transferred back so that the pool can reuse it)

import { decode, newOutputArray, ARRAY_TYPES } from './index.js';

function handle(msg) {
  const { id, bytes, options: { capacity, ...options } } = msg;
  try {
    // capacity {name: [dtype, length]}: decode these tensors into the start of arrays of that length
    // (async.js sends a split tensor's first range so, and copies the other ranges into the same array)
    let outputs;
    if (capacity) {
      outputs = {};
      for (const [name, [dtype, length]] of Object.entries(capacity)) outputs[name] = newOutputArray(ARRAY_TYPES[dtype], length);
    }
    const { tensors } = decode(bytes, { ...options, outputs, maxTotalEntries: Infinity });
    const transfer = [];
    const seen = new Set();
    for (const t of tensors) {
      const buf = t.data.buffer;
      if (!seen.has(buf) && !(typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer)) {
        seen.add(buf);
        transfer.push(buf);
      }
    }
    // The input buffer goes back too (the pool reuses it for the next subfile), unless an output
    // happens to live in it.
    if (seen.has(bytes.buffer)) return [{ id, tensors }, transfer];
    return [{ id, tensors, input: bytes.buffer }, [...transfer, bytes.buffer]];
  } catch (e) {
    const error = e && e.name === 'AnspackError'
      ? { name: e.name, code: e.code, message: e.message, offset: e.offset, tensor: e.tensor }
      : { name: e?.name ?? 'Error', code: null, message: String(e?.stack ?? e), offset: null, tensor: null };
    return [{ id, error, input: bytes.buffer }, [bytes.buffer]];
  }
}

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;

// No top-level await: a bundler builds this file as a worker of its own, Vite by default as a classic
// script, which cannot have one (node's parentPort queues messages until the listener is added).
if (isNode) {
  import(/* webpackIgnore: true */ 'node:worker_threads').then(({ parentPort }) => {
    if (parentPort) parentPort.on('message', (msg) => parentPort.postMessage(...handle(msg)));
  });
} else if (typeof self !== 'undefined' && typeof self.postMessage === 'function') {
  self.onmessage = (ev) => self.postMessage(...handle(ev.data));
}
