// Timing core of benchmarks/wasm_bench.py, shared by the node side (node.mjs) and the Chromium page
// (index.html): decode() with engine 'wasm' of the decoder at an older git revision ("old") and of
// the working tree ("new"), and the platform's gzip inflater on the same integers, interleaved.
//
// Each round runs every contender once per dataset; the order rotates every round so that neither
// side always runs first (cache, turbo) and a drifting load affects all alike. Round 0 checks every
// output byte against the gzip output and is a warm-up, as is round 1. Figures: best and median
// times, and the median over rounds of the per-round ratio gzip time / decode time.

function concatOut(tensors, total) {
  const out = new Uint8Array(total);
  let at = 0;
  for (const t of tensors) {
    const d = t.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  if (at !== total) throw new Error(`decoded ${at} bytes, expected ${total}`);
  return out;
}

function same(a, b, what) {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} bytes, expected ${b.length}`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`${what}: wrong byte at ${i}`);
}

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { best: s[0], median: s[Math.floor(s.length / 2)], times };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * @param {{datasets: {label: string, anspack: Uint8Array, gz: Uint8Array}[], repeats: number,
 *   decoders: {label: string, decode: Function}[]}} cfg
 * @param {{gunzip: (gz: Uint8Array) => Promise<Uint8Array>, now: () => number}} env
 */
export async function runWasmBench(cfg, env) {
  const results = [];
  for (const d of cfg.datasets) {
    const raw = await env.gunzip(d.gz);
    const contenders = [
      { label: 'gzip', run: async () => env.gunzip(d.gz) },
      ...cfg.decoders.map((dec) => ({
        label: dec.label,
        run: async () => dec.decode(d.anspack, { engine: 'wasm' }).tensors, // verify: true
      })),
    ];
    const times = contenders.map(() => []);
    for (let round = 0; round < cfg.repeats + 2; round++) {
      for (let k = 0; k < contenders.length; k++) {
        const i = (k + round) % contenders.length;
        const t0 = env.now();
        const r = await contenders[i].run();
        const dt = env.now() - t0;
        if (round === 0) same(i === 0 ? r : concatOut(r, raw.length), raw, `${d.label} ${contenders[i].label}`);
        if (round >= 2) times[i].push(dt);
      }
    }
    const g = times[0];
    results.push({
      label: d.label, entries: raw.length, gzBytes: d.gz.length, anspackBytes: d.anspack.length,
      gzip: stats(g),
      decoders: contenders.slice(1).map((c, j) => {
        const t = times[j + 1];
        return {
          label: c.label, ...stats(t),
          ratioBest: stats(g).best / stats(t).best,
          ratioPerRoundMedian: median(t.map((x, r) => g[r] / x)),
        };
      }),
    });
  }
  return results;
}
