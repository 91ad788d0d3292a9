// Node side of benchmarks/js_decode_bench.py: decode() (checksums on) vs zlib.gunzipSync.
// Usage: node js_decode_bench_node.mjs DIR REPEATS L...
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { decode } from '../jsdecoder/src/index.js';

const [dir, repeatsArg, ...lanes] = process.argv.slice(2);
const repeats = Number(repeatsArg);
const raw = readFileSync(`${dir}/mock.int8`);
const gz = readFileSync(`${dir}/mock.int8.gz`);

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { best: s[0], median: s[Math.floor(s.length / 2)] };
}
function time(fn) {
  const times = [];
  for (let r = 0; r < repeats + 2; r++) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    if (r >= 2) times.push(dt);
  }
  return stats(times);
}
const gzipRun = () => time(() => { if (gunzipSync(gz).length !== raw.length) throw new Error('size'); });
const g1 = gzipRun();
const results = [];
for (const L of lanes) {
  const bytes = new Uint8Array(readFileSync(`${dir}/mock_L${L}.anspack`));
  let out;
  const s = time(() => { out = decode(bytes).tensors[0].data; });
  if (Buffer.compare(Buffer.from(out.buffer, out.byteOffset, out.byteLength), raw) !== 0) throw new Error(`L=${L}: wrong output`);
  results.push({ label: `L=${L}`, entries: out.length, fileBytes: bytes.length, ...s });
}
const g2 = gzipRun();
console.log(JSON.stringify({ version: process.version, entries: raw.length, gzBytes: gz.length, gzip: [g1, g2], decode: results }));
