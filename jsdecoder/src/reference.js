// The readable reference rANS decoder: spec/FORMAT.md section 10's pseudo-code, line for line,
// with plain Numbers and a linear search for the symbol. Slow; used by the tests to check the fast
// path (src/rans.js + src/rans_fast.js) and as documentation. Same inputs and result as decodeRans,
// plus the decoded ids. Row groups (coding 2, section 7.4): groupLayoutReference reads a block's
// group header and row map, each sub-block is a coding-0 block for decodeTensorReference, and
// placeRowsReference puts the group tensors' rows in place.

/**
 * @param {{states: ArrayLike<number>, words: ArrayLike<number>, cdf: ArrayLike<number>, P: number, n: number}} m
 * @param {ArrayLike<number>} values  the vocabulary
 * @returns {{ids: number[], values: number[], checksum: number, status: string, wordsRead: number, lane: number}}
 */
export function decodeRansReference({ states, words, cdf, P, n }, values) {
  const L = states.length;
  const W = words.length;
  const M = 2 ** P;
  const state = Array.from(states, Number);
  const ids = [];
  const out = [];
  let k = 0;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const j = i % L;
    let x = state[j];
    const slot = x % M;
    let s = 0;
    while (!(cdf[s] <= slot && slot < cdf[s + 1])) s++;
    const f = cdf[s + 1] - cdf[s];
    x = f * Math.floor(x / M) + slot - cdf[s];
    if (x < 2 ** 16) {
      if (k === W) return { ids, values: out, checksum: h, status: 'underrun', wordsRead: k, lane: j, entry: i };
      x = x * 65536 + words[k];
      k += 1;
    }
    state[j] = x;
    ids.push(s);
    out.push(values[s]);
    // FxHash26 (section 11).
    h = (h % 2 ** 21) * 32 + Math.floor(h / 2 ** 21);
    // h < 2^26 and s < 2^15, so (h ^ s) * 0x03220A95 < 2^52 is exact in a double.
    h = ((h ^ s) * 0x03220a95) % 2 ** 26;
  }
  if (k !== W) return { ids, values: out, checksum: h, status: 'leftover', wordsRead: k, lane: -1 };
  for (let j = 0; j < L; j++) {
    if (state[j] !== 2 ** 16) return { ids, values: out, checksum: h, status: 'badFinalState', wordsRead: k, lane: j };
  }
  return { ids, values: out, checksum: h, status: 'ok', wordsRead: k, lane: -1 };
}

/**
 * The pair model of a PRODUCT block (spec section 7.3), written out as the spec words it: section
 * 9's steps 2-4 on the counts c[s] = g[a] * g[b] (pair id s = a*V + b, in id order) with
 * n = 2^(2P), step 3's passes one by one. Plain Numbers (c * 2^P < 2^45: exact); independent of
 * header.js derivePairModel, which computes the same thing faster.
 *
 * @param {ArrayLike<number>} entryCdf  the stored CDF of the V entries (V + 1 values)
 * @param {ArrayLike<number>} entryValues  the V stored entry values (int8 or uint8)
 * @param {number} P
 * @returns {{cdf: number[], values: number[], freqs: number[]}}  V^2 + 1 cumulative frequencies, the
 *   V^2 u16 pair values (low byte: entry 2t = values[a], high byte: entry 2t + 1 = values[b])
 */
export function derivePairModelReference(entryCdf, entryValues, P) {
  const V = entryCdf.length - 1;
  const M = 2 ** P;
  const n = M * M;
  const g = [];
  for (let a = 0; a < V; a++) g.push(entryCdf[a + 1] - entryCdf[a]);
  // Step 2: f[s] = max(1, round_half_even(c[s] * 2^P / n)), exactly.
  const f = [];
  for (let a = 0; a < V; a++) {
    for (let b = 0; b < V; b++) {
      const c = g[a] * g[b];
      const q = Math.floor((c * M) / n);
      const r = c * M - q * n;
      let x = 2 * r > n || (2 * r === n && q % 2 === 1) ? q + 1 : q;
      x = Math.max(x, 1);
      f.push(x);
    }
  }
  // Step 3: the fix-up passes.
  let d = f.reduce((x, y) => x + y, 0) - M;
  while (d > 0) {
    for (let s = 0; s < f.length; s++) {
      if (d === 0) break;
      if (f[s] > 1) { f[s] -= 1; d -= 1; }
    }
  }
  while (d < 0) {
    for (let s = 0; s < f.length; s++) {
      if (d === 0) break;
      f[s] += 1; d += 1;
    }
  }
  // Step 4.
  const cdf = [0];
  for (let s = 0; s < f.length; s++) cdf.push(cdf[s] + f[s]);
  const byte = (v) => ((v % 256) + 256) % 256;
  const values = [];
  for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) values.push(byte(entryValues[a]) + 256 * byte(entryValues[b]));
  return { cdf, values, freqs: f };
}

/**
 * A whole coding-0 tensor by the reference (spec sections 7.1, 7.2, 7.3, 10, 11): the chunks one after
 * the other, each an independent stream decoded by decodeRansReference, and with pairs each symbol's
 * u16 value split into its two entries (low byte first). With `product`, m.cdf and `values` are the
 * stored entry model, and the pair model is derived from it (derivePairModelReference). Stops at the
 * first failing chunk.
 *
 * @param {{states: ArrayLike<number>, L: number, words: ArrayLike<number>, cdf: ArrayLike<number>,
 *   P: number, n: number, chunk: number, chunkWords?: ArrayLike<number>}} m  states: L per chunk,
 *   chunk after chunk; words: exactly W (all chunks); n: the symbol count N; chunk: Q (0 = one stream)
 * @param {ArrayLike<number>} values  the vocabulary (the u16 pair values with pairs; the entry values
 *   with product)
 * @param {{pairs?: boolean, signed?: boolean, product?: boolean}} [opts]  signed: the entries are
 *   int8 (with pairs); product: PRODUCT pairs (implies pairs)
 * @returns {{entries: number[], ids: number[], checksums: number[], checksum: number, status: string,
 *   chunk: number, wordsRead: number, lane: number}} checksum: of the ids (one stream) or of the
 *   chunk checksums (Q > 0)
 */
export function decodeTensorReference(m, values, { pairs = false, signed = false, product = false } = {}) {
  const { L, P, n: N, chunk: Q } = m;
  let cdf = m.cdf;
  if (product) {
    ({ cdf, values } = derivePairModelReference(m.cdf, values, P));
    pairs = true;
  }
  const K = Q > 0 ? Math.ceil(N / Q) : 1;
  const ids = [], entries = [], checksums = [];
  let w0 = 0;
  for (let k = 0; k < K; k++) {
    const a = k * Q, b = Q > 0 ? Math.min(N, a + Q) : N;
    const Wk = Q > 0 ? m.chunkWords[k] : m.words.length;
    const r = decodeRansReference({
      states: Array.from(m.states).slice(k * L, k * L + L),
      words: Array.from(m.words).slice(w0, w0 + Wk),
      cdf, P, n: b - a,
    }, values);
    for (const s of r.ids) ids.push(s);
    for (const v of r.values) {
      if (!pairs) entries.push(v);
      else for (const byte of [v & 0xff, v >>> 8]) entries.push(signed && byte > 127 ? byte - 256 : byte);
    }
    checksums.push(r.checksum);
    if (r.status !== 'ok') return { entries, ids, checksums, checksum: 0, status: r.status, chunk: k, wordsRead: r.wordsRead, lane: r.lane };
    w0 += Wk;
  }
  let h = checksums[0];
  if (Q > 0) {
    h = 0;
    for (const c of checksums) {
      h = (h % 2 ** 21) * 32 + Math.floor(h / 2 ** 21);
      h = ((h ^ c) * 0x03220a95) % 2 ** 26; // (h ^ c) < 2^26: the product is exact below 2^52
    }
  }
  return { entries, ids, checksums, checksum: h, status: 'ok', chunk: -1, wordsRead: w0, lane: -1 };
}

/**
 * The layout of a row-group data block (spec section 7.4), read as the spec words it, independent of
 * header.js: G, the group_sizes S_g, the group_checksums, the row map read as ONE little-endian
 * integer of M bytes (a BigInt) with row r's group in bits r*b .. r*b + b - 1, and the sub-block
 * offsets O_0 = H = align8(8 + 12G + M), O_g = align8(O_(g-1) + S_(g-1)) (in the block). No
 * validation beyond what the reading needs.
 *
 * @param {Uint8Array} block  the data block's bytes
 * @param {number} R  shape[0]
 * @returns {{G: number, b: number, M: number, H: number, sizes: number[], checksums: number[],
 *   map: number[], offsets: number[], highBits: bigint}} highBits: the map's bits above R*b
 */
export function groupLayoutReference(block, R) {
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const G = dv.getUint32(0, true);
  const b = (G - 1).toString(2).length;  // the bit length of G - 1
  const M = Math.ceil((R * b) / 8);
  const sizes = [], checksums = [];
  for (let g = 0; g < G; g++) sizes.push(Number(dv.getBigUint64(8 + 8 * g, true)));
  for (let g = 0; g < G; g++) checksums.push(dv.getUint32(8 + 8 * G + 4 * g, true));
  let X = 0n;
  for (let i = M - 1; i >= 0; i--) X = (X << 8n) | BigInt(block[8 + 12 * G + i]);
  const map = [];
  for (let r = 0; r < R; r++) map.push(Number((X >> BigInt(r * b)) & ((1n << BigInt(b)) - 1n)));
  const align8 = (x) => Math.ceil(x / 8) * 8;
  const H = align8(8 + 12 * G + M);
  const offsets = [H];
  for (let g = 1; g < G; g++) offsets.push(align8(offsets[g - 1] + sizes[g - 1]));
  return { G, b, M, H, sizes, checksums, map, offsets, highBits: X >> BigInt(R * b) };
}

/**
 * Section 7.4's decoding step: given each group tensor's decoded entries (groupEntries[g], R_g * C
 * of them), write the j-th row of group g's tensor to the j-th row (in increasing row order) that the
 * map assigns to g. Also the table checksum of section 11: the FxHash26 of the group checksums given.
 *
 * @param {number[]} map  the group of each row
 * @param {number} C  entries per row
 * @param {ArrayLike<number>[]} groupEntries
 * @param {number[]} groupChecksums
 * @returns {{entries: number[], checksum: number}}
 */
export function placeRowsReference(map, C, groupEntries, groupChecksums) {
  const next = groupEntries.map(() => 0);  // the next row of each group tensor
  const entries = [];
  for (let r = 0; r < map.length; r++) {
    const g = map[r];
    const j = next[g]++;
    for (let i = 0; i < C; i++) entries.push(groupEntries[g][j * C + i]);
  }
  let h = 0;
  for (const c of groupChecksums) {
    h = (h % 2 ** 21) * 32 + Math.floor(h / 2 ** 21);
    h = ((h ^ c) * 0x03220a95) % 2 ** 26;
  }
  return { entries, checksum: h };
}
