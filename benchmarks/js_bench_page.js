// Browser side of benchmarks/js_decode_bench.py: times anspack decode (checksums verified) against
// DecompressionStream('gzip') inflating the same int8 bytes, in the same page, single thread.
import { decode } from '/jsdecoder/src/index.js';

async function fetchBuffer(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function gunzip(gz) {
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { best: s[0], median: s[Math.floor(s.length / 2)] };
}

/**
 * @param {{files: {label: string, url: string}[], gzUrl: string, rawUrl: string, repeats: number}} cfg
 */
export async function runBench(cfg) {
  const raw = await fetchBuffer(cfg.rawUrl);
  const gz = await fetchBuffer(cfg.gzUrl);
  const results = [];
  // gzip first and last, to see drift.
  const gzipRun = async () => {
    const times = [];
    for (let r = 0; r < cfg.repeats + 2; r++) {
      const t0 = performance.now();
      const out = await gunzip(gz);
      const dt = performance.now() - t0;
      if (r >= 2) times.push(dt);
      if (out.length !== raw.length) throw new Error('gzip output size mismatch');
      if (r === 0) for (let i = 0; i < raw.length; i += 4099) if (out[i] !== raw[i]) throw new Error('gzip output mismatch');
    }
    return stats(times);
  };
  const g1 = await gzipRun();
  for (const f of cfg.files) {
    const bytes = await fetchBuffer(f.url);
    const times = [];
    let out = null;
    for (let r = 0; r < cfg.repeats + 2; r++) {
      const t0 = performance.now();
      const d = decode(bytes); // verify: true (all checksums)
      const dt = performance.now() - t0;
      if (r >= 2) times.push(dt);
      out = d.tensors[0].data;
    }
    const u8 = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < raw.length; i += 4099) if (u8[i] !== raw[i]) throw new Error(`decode mismatch at ${i}`);
    results.push({ label: f.label, entries: out.length, fileBytes: bytes.length, ...stats(times) });
  }
  const g2 = await gzipRun();
  return { entries: raw.length, gzBytes: gz.length, gzip: [g1, g2], decode: results, userAgent: navigator.userAgent };
}
