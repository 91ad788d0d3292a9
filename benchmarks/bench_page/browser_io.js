// Browser helpers shared by the benchmark pages (bench_page/index.html, wasm_bench/index.html,
// js_bench_page.js): fetching a file's bytes, and the browser's native gzip inflater.

/** The bytes at `url` (an Error naming the URL and status if the fetch fails). */
export async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Inflate gzip bytes with DecompressionStream('gzip'). */
export async function gunzip(gz) {
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
