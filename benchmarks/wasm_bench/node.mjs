// Node side of benchmarks/wasm_bench.py (see core.js): node node.mjs CONFIG.json -> JSON on stdout.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { runWasmBench } from './core.js';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const decoders = [];
for (const d of cfg.decoders) {
  const mod = await import(pathToFileURL(d.indexPath).href);
  decoders.push({ label: d.label, decode: mod.decode });
}
const datasets = cfg.datasets.map((d) => ({
  label: d.label, anspack: new Uint8Array(readFileSync(d.anspackPath)), gz: new Uint8Array(readFileSync(d.gzPath)),
}));
const results = await runWasmBench({ datasets, decoders, repeats: cfg.repeats },
  { gunzip: async (gz) => gunzipSync(gz), now: () => performance.now() });
console.log(JSON.stringify({ results, version: process.version }));
