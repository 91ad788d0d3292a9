// Node side of benchmarks/run.py: anspack decode (1 thread and worker_threads pools) vs
// zlib.gunzipSync, see bench_core.js. Usage: node bench_node.mjs CONFIG.json  (prints JSON)
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as anspack from '../../jsdecoder/src/index.js';
import { Worker } from 'node:worker_threads';
import { runBench, SPIN_SOURCE } from './bench_core.js';

function spinWorker() {
  const w = new Worker(SPIN_SOURCE, { eval: true });
  return {
    run: (n) => new Promise((resolve) => { w.once('message', resolve); w.postMessage(n); }),
    terminate: () => w.terminate(),
  };
}

function parWorker() {
  const w = new Worker(new URL('./par_worker.js', import.meta.url));
  let pending = null;  // one request at a time
  w.on('message', (n) => { const p = pending; pending = null; p?.resolve(n); });
  w.on('error', (e) => { const p = pending; pending = null; p?.reject(e); });
  return {
    send: (msg) => new Promise((resolve, reject) => {
      pending = { resolve, reject };
      w.postMessage(msg);
    }),
    terminate: () => w.terminate(),
  };
}

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const datasets = cfg.datasets.map((d) => ({
  ...d, anspack: new Uint8Array(readFileSync(d.anspackPath)), gz: new Uint8Array(readFileSync(d.gzPath)),
}));
const results = await runBench({ datasets, repeats: cfg.repeats, workers: cfg.workers },
  { anspack, gunzip: async (gz) => gunzipSync(gz), now: () => performance.now(), spinWorker, parWorker });
console.log(JSON.stringify({ results, version: process.version }));
