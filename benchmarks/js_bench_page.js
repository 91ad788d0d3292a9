// Browser side of benchmarks/js_decode_bench.py: times anspack decode (checksums verified) against
// DecompressionStream('gzip') inflating the same int8 bytes, in the same page, single thread.
// Runs are interleaved (one gzip run, then one decode per file, repeated) so that a machine whose
// load drifts affects every contender alike; the first two rounds are warm-up.
import { decode } from '/jsdecoder/src/index.js';
import { fetchBytes as fetchBuffer, gunzip } from './bench_page/browser_io.js';

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { best: s[0], median: s[Math.floor(s.length / 2)], times };
}

function check(out, raw, what) {
  if (out.length !== raw.length) throw new Error(`${what}: ${out.length} bytes, expected ${raw.length}`);
  for (let i = 0; i < raw.length; i += 4099) if (out[i] !== raw[i]) throw new Error(`${what}: wrong byte at ${i}`);
}

/**
 * @param {{files: {label: string, url: string}[], gzUrl: string, rawUrl: string, repeats: number,
 *   engines?: string[]}} cfg  engines: decode()'s engine option, each file timed with each
 */
export async function runBench(cfg) {
  const raw = await fetchBuffer(cfg.rawUrl);
  const gz = await fetchBuffer(cfg.gzUrl);
  const files = [];
  for (const f of cfg.files) {
    const bytes = await fetchBuffer(f.url);
    for (const engine of cfg.engines ?? ['auto']) files.push({ ...f, label: `${f.label}, ${engine}`, engine, bytes, times: [] });
  }
  const gzTimes = [];
  for (let round = 0; round < cfg.repeats + 2; round++) {
    let t0 = performance.now();
    const inflated = await gunzip(gz);
    let dt = performance.now() - t0;
    if (round === 0) check(inflated, raw, 'gzip');
    if (round >= 2) gzTimes.push(dt);
    for (const f of files) {
      t0 = performance.now();
      const d = decode(f.bytes, { engine: f.engine }); // verify: true (header, block and ids checksums)
      dt = performance.now() - t0;
      if (round === 0) {
        const data = d.tensors[0].data;
        check(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), raw, f.label);
      }
      if (round >= 2) f.times.push(dt);
    }
  }
  return {
    entries: raw.length, gzBytes: gz.length, gzip: stats(gzTimes),
    decode: files.map((f) => ({ label: f.label, fileBytes: f.bytes.length, ...stats(f.times) })),
    userAgent: navigator.userAgent,
  };
}
