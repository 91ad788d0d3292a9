// Cold start in node, for benchmarks/run.py: one fresh process times the first call of one contender
// on one file, as a page that decodes once sees it (no JIT warm-up, fresh output memory).
// Usage: node cold_node.mjs decode FILE.anspack | node cold_node.mjs gunzip FILE.gz   (prints JSON)
// decode: {importMs: importing the decoder (dist/anspack.js, what `import 'anspack'` loads), firstMs: the first decode() (WebAssembly modules
// compiled on first use included)}; gunzip: {firstMs: the first zlib.gunzipSync}.
import { readFileSync } from 'node:fs';

const [mode, file] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(file));
if (mode === 'decode') {
  const t0 = performance.now();
  const anspack = await import('../../jsdecoder/dist/anspack.js');  // the package's entry
  const t1 = performance.now();
  const { tensors } = anspack.decode(bytes);
  const t2 = performance.now();
  console.log(JSON.stringify({ importMs: t1 - t0, firstMs: t2 - t1, tensors: tensors.length }));
} else if (mode === 'gunzip') {
  const { gunzipSync } = await import('node:zlib');
  const t0 = performance.now();
  const out = gunzipSync(bytes);
  const t1 = performance.now();
  console.log(JSON.stringify({ firstMs: t1 - t0, bytes: out.length }));
} else {
  console.error('usage: node cold_node.mjs decode FILE.anspack | gunzip FILE.gz');
  process.exit(2);
}
