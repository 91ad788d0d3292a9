// Built by Vite in tests/test_browser_bundlers.py: the package imported by its name, as an app does.
// Each call's result (per tensor: name, dtype, length, checksum, a hash of the values) or error goes
// to window.__results, then the title says DONE.
import { decode, decodeAsync, decodeStream } from 'anspack';

const url = new URL('m.anspack', document.baseURI).href;
const hash = (a) => { let s = 0; for (let i = 0; i < a.length; i++) s = (Math.imul(s, 31) + a[i]) | 0; return s; };
const desc = (ts) => ts.map((t) => ({ name: t.name, dtype: t.dtype, n: t.data.length, checksum: t.checksum, hash: hash(t.data) }));
const err = (e) => ({ error: `${e?.name}: ${e?.message}`, code: e?.code ?? null });

async function streamed(options) {
  const ts = [];
  for await (const t of decodeStream((await fetch(url)).body, options)) ts.push(t);
  return desc(ts);
}

async function run() {
  const results = {};
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const calls = {
    decode: async () => desc(decode(bytes).tensors),
    decodeAsync: async () => desc((await decodeAsync(bytes, { workers: 2 })).tensors),
    decodeStream: () => streamed({}),
    decodeStreamWorkers: () => streamed({ workers: 2 }),
  };
  for (const [k, f] of Object.entries(calls)) {
    try { results[k] = await f(); } catch (e) { results[k] = err(e); }
  }
  window.__results = results;
  document.title = 'DONE';
}
run();
