// Decode-throughput benchmark shared by the browser page (bench_page/index.html, driven by
// benchmarks/run.py through playwright) and node (benchmarks/bench_page/bench_node.mjs).
//
// For each data set, in one process and interleaved round-robin (the order rotates every round, so
// background load hits every contender alike), it times:
//   gzip  : the platform's gzip inflater (DecompressionStream('gzip') in the page, zlib.gunzipSync in
//           node) on the gzip -9 of the same integers (int8 bytes, nibble-packed for 4-bit data);
//   gzipUnpack (4-bit data only): gzip, then the nibbles unpacked into an Int8Array of the entries --
//           what a page needs to get the typed array decode() returns (informational; the targets
//           compare with plain gzip);
//   decode: anspack decode() on the calling thread, every checksum verified;
//   decodeNibbles (4-bit data only): decode() with nibbles: true -- the 4-bit tensors packed two
//           entries a byte, the same bytes gzip inflates (informational);
//   wN    : decodeAsync() on a pool of N workers started beforehand (checksums verified, the
//           split, the copies of each worker's blocks and both transfers included).
//   spinN : control for the machine's parallelism at that moment: a fixed CPU-bound loop (FxHash26
//           steps, no memory traffic) split over a pool of N plain workers, in the same rounds. On
//           a machine whose cores are busy with other jobs, spin2/spin1 shows the ceiling that any
//           2-worker speedup could have reached in this run.
//   parN  : control for decodeAsync's speedup: N workers (par_worker.js) each decoding a whole copy of
//           the file with decode() at the same time, each from the copy it was given before the
//           rounds (no splitting, copying or transfers). N * par1 / parN is the parallel speedup the
//           machine gave decoding itself at that moment, memory traffic included: on a shared VM it
//           can be well below the spin loop's (two workers decoding at once, nothing else shared,
//           gave 1.1-2.0x the throughput of one alone here, from one run to the next).
// Best and median of `repeats` rounds after one warm-up round, in milliseconds, and every round's
// time (`times`, in round order: contenders of one round ran back to back, so ratios of the same
// round are paired measurements).

/** Nibble-packed bytes (low nibble first, two's complement) -> Int8Array of n entries. */
export function unpackNibbles(bytes, n) {
  const out = new Int8Array(n);
  const half = n >> 1;
  for (let i = 0; i < half; i++) {
    const b = bytes[i];
    out[2 * i] = (b << 28) >> 28;
    out[2 * i + 1] = (b << 24) >> 28;
  }
  if (n & 1) out[n - 1] = (bytes[half] << 28) >> 28;
  return out;
}

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return { best: s[0], median: s[Math.floor(s.length / 2)], runs: s.length, times };
}

/**
 * @param {object} cfg  {datasets: [{label, anspack: Uint8Array, gz: Uint8Array, entries, rawBytes}], repeats, workers: number[]}
 * @param {object} env  {anspack (module namespace), gunzip: async (Uint8Array) => Uint8Array, now: () => ms,
 *   spinWorker: () => {run: (iterations) => Promise<number>, terminate: () => void},
 *   parWorker: () => {send: (message) => Promise<number>, terminate: () => void} (par_worker.js)}
 */
export async function runBench(cfg, env) {
  const A = env.anspack;
  const out = [];
  for (const ds of cfg.datasets) {
    const pools = {};
    for (const w of cfg.workers) pools[w] = await A.createDecoderPool(w);
    const maxW = Math.max(...cfg.workers);
    const spinners = env.spinWorker ? Array.from({ length: maxW }, () => env.spinWorker()) : [];
    const spinIters = ds.entries * 4;
    const parallel = env.parWorker ? Array.from({ length: maxW }, () => env.parWorker()) : [];
    try {
      // each par worker gets its own copy of the file, once
      for (const pw of parallel) {
        const n = await pw.send({ bytes: ds.anspack.slice() });
        if (n !== 0) throw new Error(`${ds.label}: par worker answered ${n} to its file`);
      }
      // correctness once, untimed: decodeAsync == decode, gzip output has the right length
      const ref = A.decode(ds.anspack);
      let entries = 0;
      for (const t of ref.tensors) entries += t.data.length;
      if (entries !== ds.entries) throw new Error(`${ds.label}: decode gave ${entries} entries, expected ${ds.entries}`);
      for (const w of cfg.workers) {
        const r = await pools[w].decode(ds.anspack);
        r.tensors.forEach((t, i) => {
          const a = t.data, b = ref.tensors[i].data;
          if (a.length !== b.length) throw new Error(`${ds.label}: workers=${w} length mismatch in ${t.name}`);
          for (let k = 0; k < a.length; k += 997) if (a[k] !== b[k]) throw new Error(`${ds.label}: workers=${w} value mismatch in ${t.name}`);
        });
      }
      for (const pw of parallel) {
        const n = await pw.send({});
        if (n !== ref.tensors.length) throw new Error(`${ds.label}: par worker decoded ${n} tensors, expected ${ref.tensors.length}`);
      }
      const g = await env.gunzip(ds.gz);
      if (g.length !== ds.rawBytes) throw new Error(`${ds.label}: gunzip gave ${g.length} bytes, expected ${ds.rawBytes}`);
      const nibble = ds.rawBytes * 2 >= ds.entries && ds.rawBytes < ds.entries;
      if (nibble) {
        // decode() with nibbles gives gzip's bytes: every tensor packed, in table order
        const packed = A.decode(ds.anspack, { nibbles: true }).tensors;
        if (packed.every((t) => t.dtype === 'int4' || t.dtype === 'uint4')) {
          let at = 0;
          for (const t of packed) {
            for (let k = 0; k < t.data.length; k++) if (t.data[k] !== g[at + k]) throw new Error(`${ds.label}: nibbles of ${t.name} differ from gzip's bytes at ${k}`);
            at += t.data.length;
          }
          if (at !== g.length) throw new Error(`${ds.label}: nibbles give ${at} bytes, gzip ${g.length}`);
        }
      }

      const contenders = [
        ['gzip', async () => env.gunzip(ds.gz)],
        ...(nibble ? [['gzipUnpack', async () => unpackNibbles(await env.gunzip(ds.gz), ds.entries)]] : []),
        ['decode', async () => A.decode(ds.anspack)],
        ...(nibble ? [['decodeNibbles', async () => A.decode(ds.anspack, { nibbles: true })]] : []),
        ...cfg.workers.map((w) => [`w${w}`, async () => pools[w].decode(ds.anspack)]),
        ...(spinners.length ? cfg.workers.map((w) => [`spin${w}`,
          async () => Promise.all(spinners.slice(0, w).map((sp) => sp.run(Math.ceil(spinIters / w))))]) : []),
        ...(parallel.length ? cfg.workers.map((w) => [`par${w}`, async () => Promise.all(parallel.slice(0, w).map((pw) => pw.send({})))]) : []),
      ];
      const times = Object.fromEntries(contenders.map(([k]) => [k, []]));
      for (let round = 0; round <= cfg.repeats; round++) {
        for (let j = 0; j < contenders.length; j++) {
          const [k, fn] = contenders[(j + round) % contenders.length];
          const t0 = env.now();
          await fn();
          const dt = env.now() - t0;
          if (round > 0) times[k].push(dt);
        }
      }
      const res = { label: ds.label, entries: ds.entries, anspackBytes: ds.anspack.length, gzBytes: ds.gz.length };
      for (const [k] of contenders) res[k] = stats(times[k]);
      out.push(res);
    } finally {
      for (const p of Object.values(pools)) await p.terminate();
      for (const sp of spinners) sp.terminate();
      for (const pw of parallel) pw.terminate();
    }
  }
  return out;
}

/** Source of the spin worker (a CPU-bound loop answering each message with its result). */
export const SPIN_SOURCE = `
function spin(n) { let h = 0; for (let i = 0; i < n; i++) { h = ((h & 0x1fffff) << 5) | (h >>> 21); h = Math.imul(h ^ (i & 0xffff), 0x03220a95) & 0x3ffffff; } return h; }
if (typeof self !== 'undefined' && typeof self.postMessage === 'function' && typeof require === 'undefined') {
  self.onmessage = (ev) => self.postMessage(spin(ev.data));
} else {
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (n) => parentPort.postMessage(spin(n)));
}`;
