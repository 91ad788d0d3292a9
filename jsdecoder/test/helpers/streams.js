// Test helpers for the streaming paths (decodeStream, fetchTensor): a chunked ReadableStream, a Range
// server, collecting a stream's tensors, and the comparison of two decoded tensors.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { decodeStream } from '../../src/index.js';

const bufOf = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

export function sameTensor(g, w) {
  assert.equal(g.name, w.name);
  assert.deepEqual(g.shape, w.shape);
  assert.equal(g.dtype, w.dtype);
  assert.equal(g.storedDtype, w.storedDtype);
  assert.equal(g.checksum, w.checksum);
  assert.equal(g.data.constructor, w.data.constructor);
  assert.deepEqual(bufOf(g.data), bufOf(w.data), w.name);
}

/** A ReadableStream delivering `bytes` in chunks of `size`, recording how much was pulled. */
export function chunkedStream(bytes, size, log = { delivered: 0, cancelled: false }) {
  let pos = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (pos >= bytes.length) { controller.close(); return; }
      const end = Math.min(bytes.length, pos + size);
      controller.enqueue(bytes.slice(pos, end));
      pos = end;
      log.delivered = pos;
    },
    cancel() { log.cancelled = true; },
  }, { highWaterMark: 0 });
  return { stream, log };
}

export async function collect(source, options) {
  const out = [];
  for await (const t of decodeStream(source, options)) out.push(t);
  return out;
}

export async function streamError(source, options) {
  try { await collect(source, options); } catch (e) { return e; }
  return null;
}

/** A static server for one file that honours single Range requests and logs what it serves. */
export async function rangeServer(files, { ignoreRange = false } = {}) {
  const log = [];
  const server = createServer((req, res) => {
    const body = files[req.url];
    if (!body) { res.writeHead(404); res.end(); return; }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m || ignoreRange) {
      log.push({ range: null, bytes: body.length });
      res.writeHead(200, { 'Content-Length': body.length });
      res.end(Buffer.from(body));
      return;
    }
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), body.length - 1);
    if (start >= body.length) { res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }); res.end(); return; }
    log.push({ range: [start, end], bytes: end - start + 1 });
    res.writeHead(206, { 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${body.length}` });
    res.end(Buffer.from(body.subarray(start, end + 1)));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: (p) => `http://127.0.0.1:${server.address().port}${p}`, log, close: () => new Promise((r) => server.close(r)) };
}
