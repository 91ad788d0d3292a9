// Node side of benchmarks/js_decode_bench.py: decode() (checksums on) vs zlib.gunzipSync, runs
// interleaved as in js_bench_page.js. Usage: node js_decode_bench_node.mjs DIR REPEATS ENGINES L...
// (ENGINES: comma-separated values of decode()'s engine option, e.g. js,wasm)
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { decode } from '../jsdecoder/src/index.js';

const [dir, repeatsArg, enginesArg, ...lanes] = process.argv.slice(2);
const repeats = Number(repeatsArg);
const raw = readFileSync(`${dir}/mock.int8`);
const gz = readFileSync(`${dir}/mock.int8.gz`);
const files = lanes.flatMap((L) => {
  const bytes = new Uint8Array(readFileSync(`${dir}/mock_L${L}.anspack`));
  return enginesArg.split(',').map((engine) => ({ label: `L=${L}, ${engine}`, engine, bytes, times: [] }));
});

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { best: s[0], median: s[Math.floor(s.length / 2)], times };
}
const gzTimes = [];
for (let round = 0; round < repeats + 2; round++) {
  let t0 = performance.now();
  const inflated = gunzipSync(gz);
  let dt = performance.now() - t0;
  if (round === 0 && Buffer.compare(inflated, raw) !== 0) throw new Error('gzip: wrong output');
  if (round >= 2) gzTimes.push(dt);
  for (const f of files) {
    t0 = performance.now();
    const out = decode(f.bytes, { engine: f.engine }).tensors[0].data;
    dt = performance.now() - t0;
    if (round === 0 && Buffer.compare(Buffer.from(out.buffer, out.byteOffset, out.byteLength), raw) !== 0) throw new Error(`${f.label}: wrong output`);
    if (round >= 2) f.times.push(dt);
  }
}
console.log(JSON.stringify({
  version: process.version, entries: raw.length, gzBytes: gz.length, gzip: stats(gzTimes),
  decode: files.map((f) => ({ label: f.label, fileBytes: f.bytes.length, ...stats(f.times) })),
}));
