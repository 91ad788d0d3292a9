// Control for the worker speedup (bench_core.js, contender parN): a worker that holds its own copy
// of a file and decodes it whole with the ordinary decode() on each message. N of them decoding at
// once, against one alone, measure how much parallel decoding the machine gives at that moment
// (memory traffic and all), with no splitting, copying or transfers: the ceiling for decodeAsync.
//
// message in : {bytes: Uint8Array} (keep it; answers 0) or {} (decode the kept bytes; answers the
//              number of tensors)
import { decode } from '../../jsdecoder/src/index.js';

let kept = null;
function handle(msg) {
  if (msg.bytes) {
    kept = msg.bytes;
    return 0;
  }
  return decode(kept).tensors.length;
}

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
if (isNode) {
  const { parentPort } = await import('node:worker_threads');
  parentPort.on('message', (msg) => parentPort.postMessage(handle(msg)));
} else {
  self.onmessage = (ev) => self.postMessage(handle(ev.data));
}
