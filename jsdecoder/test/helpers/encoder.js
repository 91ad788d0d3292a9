// A small, independent anspack *encoder* for the JS tests (spec/FORMAT.md sections 3-10), so that
// node tests can build valid and deliberately broken files without Python. Not part of the package.
// Arithmetic is done in Numbers (states < 2^32, products < 2^53), following the spec's pseudo-code.

const DTYPE_CODES = { int8: 1, uint8: 2, int16: 3, uint16: 4, int32: 5, uint32: 6, float16: 7, float32: 8 };
const SIZES = { int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, float16: 2, float32: 4 };
const ARRAYS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, float16: Uint16Array, float32: Float32Array };
const align8 = (x) => Math.ceil(x / 8) * 8;

/** Spec section 9: vocabulary (count desc, value asc) and quantized frequencies. */
export function buildModel(values, P) {
  const counts = new Map();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  const vocab = [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a) || a - b);
  const f = quantize(vocab.map((v) => counts.get(v)), values.length, P);
  const cdf = [0];
  for (const x of f) cdf.push(cdf[cdf.length - 1] + x);
  const idOf = new Map(vocab.map((v, s) => [v, s]));
  const ids = values.map((v) => idOf.get(v));
  return { vocab, freqs: f, cdf, ids };
}

/** Spec section 9, steps 2-3: counts c[s] of n items -> frequencies summing to 2^P (c * 2^P < 2^53). */
export function quantize(counts, n, P) {
  const M = 2 ** P;
  const f = counts.map((c) => {
    const num = c * M;
    const q = Math.floor(num / n), r = num - q * n;
    const g = 2 * r > n || (2 * r === n && q % 2 === 1) ? q + 1 : q;
    return Math.max(g, 1);
  });
  let d = f.reduce((a, b) => a + b, 0) - M;
  while (d > 0) for (let s = 0; s < f.length && d > 0; s++) if (f[s] > 1) { f[s]--; d--; }
  while (d < 0) for (let s = 0; s < f.length && d < 0; s++) { f[s]++; d++; }
  return f;
}

/**
 * Spec section 7.3 (PRODUCT pairs), encoder rule: the entry model is section 9 on the n entries; pair
 * t gets id a*V + b (a, b: the ids of entries 2t, 2t + 1); the pair frequencies are section 9's
 * steps 2-4 on the counts g[a] * g[b] with n = 2^(2P).
 */
export function buildProductModel(entries, P) {
  const e = buildModel(entries, P);
  const V = e.vocab.length;
  if (V * V > 2 ** P) throw new Error(`PRODUCT needs V^2 <= 2^P: V = ${V}, P = ${P}`);
  const counts = [];
  for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) counts.push(e.freqs[a] * e.freqs[b]);
  const freqs = quantize(counts, 2 ** (2 * P), P);
  const cdf = [0];
  for (const x of freqs) cdf.push(cdf[cdf.length - 1] + x);
  const ids = Array.from({ length: entries.length / 2 }, (_, t) => e.ids[2 * t] * V + e.ids[2 * t + 1]);
  return { entryVocab: e.vocab, entryCdf: e.cdf, freqs, cdf, ids };
}

/** Spec section 10: interleaved rANS encoder. Returns { states, words }. */
export function ransEncode(ids, freqs, cdf, P, L) {
  const n = ids.length;
  const M = 2 ** P;
  const state = new Array(L).fill(2 ** 16);
  const E = [];
  for (let i = n - 1; i >= 0; i--) {
    const j = i % L, s = ids[i];
    let x = state[j];
    const f = freqs[s];
    if (x >= 2 ** (32 - P) * f) { E.push(x % 65536); x = Math.floor(x / 65536); }
    x = Math.floor(x / f) * M + (x % f) + cdf[s];
    state[j] = x;
  }
  return { states: state, words: E.reverse() };
}

export function fxhash26Ref(seq) {
  let h = 0;
  for (const a of seq) {
    h = ((h & 0x1fffff) << 5) | (h >>> 21);
    h = Math.imul(h ^ a, 0x03220a95) & 0x3ffffff;
  }
  return h;
}

/**
 * A coding-0 data block (spec section 7) of the entries `data` (n of them) with t's options (lanes,
 * precision, pairs, product, chunk). Returns { data: the block's bytes, side: the bytes before the
 * words (block_checksum), checksum: the table checksum (section 11) }.
 */
export function ransBlock(t, n, data) {
  const w = new Writer();
  const P = t.precision ?? 12;
  // Spec section 7.1: with pairs, symbol t is the u16 (entry 2t) | (entry 2t+1) << 8, the two
  // entries' bytes in memory order; the model and checksum are those of that uint16 tensor.
  const product = Boolean(t.product);
  const pairs = Boolean(t.pairs) || product;
  if (pairs && (SIZES[t.dtype] !== 1 || n % 2 !== 0 || n < 2)) throw new Error('pairs need a 1-byte dtype and an even n >= 2');
  let values = Array.from(data, Number);
  let m;
  if (product) {
    // Section 7.3: vocab and CDF written are the entries'; the stream codes pair ids.
    const pm = buildProductModel(values, P);
    values = pm.ids;
    m = { vocab: pm.entryVocab, cdf: pm.entryCdf, freqs: pm.freqs, coderCdf: pm.cdf, ids: pm.ids };
  } else {
    if (pairs) {
      const bytes = new Uint8Array(ARRAYS[t.dtype].from(values).buffer);
      values = Array.from({ length: n / 2 }, (_, i) => bytes[2 * i] | (bytes[2 * i + 1] << 8));
    }
    m = values.length > 0 ? buildModel(values, P) : { vocab: [], cdf: [], freqs: [], ids: [] };
    m.coderCdf = m.cdf;
  }
  const N = values.length;
  // Section 7.2: chunk Q (0 or >= N: one stream, as the Python encoder clamps it); lanes clamped
  // to N and to Q.
  let Q = t.chunk ?? 0;
  if (Q >= N) Q = 0;
  let L = N === 0 ? 0 : Math.min(t.lanes ?? 4, N);
  if (Q > 0) L = Math.min(L, Q);
  const ranges = N === 0 ? [] : Q > 0 ? Array.from({ length: Math.ceil(N / Q) }, (_, k) => [k * Q, Math.min(N, k * Q + Q)]) : [[0, N]];
  const coded = ranges.map(([a, b]) => {
    const ids = m.ids.slice(a, b);
    return { ...ransEncode(ids, m.freqs, m.coderCdf, P, L), checksum: fxhash26Ref(ids) };
  });
  const words = coded.flatMap((c) => c.words);
  w.u32(m.vocab.length); w.u32(L); w.u64(words.length); w.u8(P); w.u8((pairs ? 1 : 0) | (product ? 2 : 0)); w.u16(0); w.u32(Q);
  for (const c of coded) for (const x of c.states) w.u32(x);
  if (Q > 0) {
    for (const c of coded) w.u32(c.words.length);
    for (const c of coded) w.u32(c.checksum);
  }
  const vb = pairs && !product ? Uint16Array.from(m.vocab) : new (ARRAYS[t.dtype])(m.vocab);
  w.bytes(new Uint8Array(vb.buffer));
  if (vb.byteLength & 1) w.u8(0);
  for (const c of m.cdf) w.u16(c);
  const side = w.length;
  for (const x of words) w.u16(x);
  const checksum = Q > 0 ? fxhash26Ref(coded.map((c) => c.checksum)) : fxhash26Ref(m.ids);
  return { data: w.finish(), side, checksum };
}

/**
 * A row-group data block (spec section 7.4) of tensor t (n entries, t.groups: the row map). Group g's
 * tensor (its rows in increasing order) is coded by ransBlock with t's options and t.groupOptions[g].
 * Returns { data, covered: the bytes block_checksum hashes (section 11: all but the sub-blocks'
 * words, in file order), checksum: the FxHash26 of the group checksums }.
 */
export function groupsBlock(t, n) {
  const map = Array.from(t.groups);
  const R = t.shape[0], C = n / R;
  if (map.length !== R) throw new Error(`row map of ${map.length} rows, the shape has ${R}`);
  const G = t.groupCount ?? Math.max(...map) + 1;
  const b = 32 - Math.clz32(G - 1);
  const subs = [];
  for (let g = 0; g < G; g++) {
    const data = [];
    for (let r = 0; r < R; r++) if (map[r] === g) for (let i = r * C; i < (r + 1) * C; i++) data.push(t.data[i]);
    subs.push(ransBlock({ ...t, ...(t.groupOptions?.[g] ?? {}) }, data.length, data));
  }
  const mapBytes = new Uint8Array(Math.ceil((R * b) / 8));
  for (let r = 0; r < R; r++) {
    for (let k = 0; k < b; k++) if ((map[r] >> k) & 1) mapBytes[(r * b + k) >> 3] |= 1 << ((r * b + k) & 7);
  }
  const w = new Writer();
  const covered = [];
  const cover = (from) => { for (const x of w.finish().subarray(from)) covered.push(x); };
  w.u32(G); w.u32(0);
  for (const s of subs) w.u64(s.data.length);
  for (const s of subs) w.u32(s.checksum);
  w.bytes(mapBytes);
  w.pad(align8(w.length));
  cover(0);
  for (const s of subs) {
    const at = w.length;
    w.pad(align8(w.length));  // the padding before a sub-block (after the previous one)
    w.bytes(s.data);
    cover(at);
    covered.length -= s.data.length - s.side;  // not its words
  }
  return { data: w.finish(), covered, checksum: fxhash26Ref(subs.map((s) => s.checksum)) };
}

class Writer {
  constructor() { this.chunks = []; this.length = 0; }
  bytes(u8) { this.chunks.push(u8); this.length += u8.length; }
  u8(v) { this.bytes(Uint8Array.of(v)); }
  u16(v) { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, v, true); this.bytes(b); }
  u32(v) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); this.bytes(b); }
  i32(v) { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v | 0, true); this.bytes(b); }
  u64(v) { this.u32(v % 2 ** 32); this.u32(Math.floor(v / 2 ** 32)); }
  pad(to) { while (this.length < to) this.u8(0); }
  finish() { const out = new Uint8Array(this.length); let p = 0; for (const c of this.chunks) { out.set(c, p); p += c.length; } return out; }
}

/**
 * Encode tensors into an anspack file.
 * @param {Array<{name: string, dtype: string, shape: number[], data: ArrayLike<number>, raw?: boolean,
 *   lanes?: number, precision?: number, dequant?: Uint8Array, pairs?: boolean, product?: boolean,
 *   chunk?: number}>} tensors
 *   pairs: code pairs of entries as one symbol (spec section 7.1); product: PRODUCT pairs (7.3: the
 *   entries' model stored, the pairs coded with the pair model derived from it; implies pairs);
 *   chunk: symbols per chunk Q (7.2; 0 or >= the symbol count: one stream)
 *   groups: coding 2 (7.4), the row map: the group of each of the shape[0] rows (every group
 *   0 .. G-1 should own a row; G = the largest + 1, or groupCount), each group tensor coded with the
 *   tensor's lanes / precision / pairs / product / chunk, overridden per group by groupOptions[g]
 * @param {object|null} metadata
 * @returns {Uint8Array}
 */
export function encodeFile(tensors, metadata = null) {
  const blocks = tensors.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new Error(`data length ${t.data.length} != n ${n}`);
    const raw = t.raw || t.dtype === 'float16' || t.dtype === 'float32';
    let checksum, data;
    let covered = []; // the data block's bytes covered by block_checksum (section 11)
    if (raw) {
      const arr = ARRAYS[t.dtype].from(t.data);
      data = new Uint8Array(arr.buffer);
      // Spec section 11: u8 units for 1-byte dtypes, little-endian u16 units otherwise.
      checksum = fxhash26Ref(SIZES[t.dtype] === 1 ? new Uint8Array(arr.buffer) : new Uint16Array(arr.buffer));
    } else if (t.groups) {
      // Spec section 7.4: coding 2, row groups.
      ({ data, covered, checksum } = groupsBlock(t, n));
    } else {
      const b = ransBlock(t, n, t.data);
      data = b.data;
      covered = data.subarray(0, b.side);
      checksum = b.checksum;
    }
    const blockChecksum = fxhash26Ref([...covered, ...(t.dequant ?? [])]);
    return { t, n, raw, data, checksum, blockChecksum, coding: raw ? 1 : t.groups ? 2 : 0 };
  });
  const enc = new TextEncoder();
  const metaBytes = metadata === null ? new Uint8Array(0) : enc.encode(JSON.stringify(metadata));
  const names = tensors.map((t) => enc.encode(t.name));
  const tableSize = tensors.reduce((a, t, i) => a + 48 + 8 * t.shape.length + align8(names[i].length), 0);
  // Placement (section 6).
  let cursor = align8(40 + tableSize + metaBytes.length);
  let end = 40 + tableSize + metaBytes.length;
  const place = blocks.map((b) => {
    const dataOffset = cursor;
    cursor = dataOffset + b.data.length;
    let dequantOffset = 0;
    const dq = b.t.dequant ?? null;
    if (dq) { dequantOffset = align8(cursor); cursor = dequantOffset + dq.length; }
    end = cursor;
    cursor = align8(cursor);
    return { dataOffset, dequantOffset, dq };
  });
  const w = new Writer();
  w.bytes(Uint8Array.of(0x89, 0x41, 0x4e, 0x53, 0x50, 0x41, 0x43, 0x4b));
  w.u32(1); w.u32(0); w.u64(end); w.u32(tensors.length); w.u32(tableSize); w.u32(metaBytes.length); w.u32(0);
  blocks.forEach((b, i) => {
    const p = place[i];
    w.u64(p.dataOffset); w.u64(b.data.length); w.u64(p.dequantOffset); w.u64(p.dq ? p.dq.length : 0);
    w.u32(b.checksum); w.u8(DTYPE_CODES[b.t.dtype]); w.u8(b.coding); w.u8(b.t.shape.length); w.u8(0);
    w.u16(names[i].length); w.u16(0); w.u32(b.blockChecksum);
    for (const d of b.t.shape) w.u64(d);
    w.bytes(names[i]);
    w.pad(align8(w.length));
  });
  w.bytes(metaBytes);
  blocks.forEach((b, i) => {
    w.pad(place[i].dataOffset);
    w.bytes(b.data);
    if (place[i].dq) { w.pad(place[i].dequantOffset); w.bytes(place[i].dq); }
  });
  const out = w.finish();
  const metaEnd = 40 + tableSize + metaBytes.length;
  const hdr = out.slice(0, metaEnd);
  hdr.fill(0, 36, 40);
  new DataView(out.buffer).setUint32(36, fxhash26Ref(hdr), true);
  if (out.length !== end) throw new Error(`internal: wrote ${out.length} bytes, expected ${end}`);
  return out;
}

/**
 * A dequant block (spec section 12) of kind 1 (affine), per tensor (axis 0xFFFFFFFF, count 1): one
 * scale and one offset (the f32 after the scale; 0 by default).
 */
export function perTensorAffine(scale, offset = 0) {
  const dq = new Uint8Array(32);
  const dv = new DataView(dq.buffer);
  dv.setUint32(0, 1, true); dv.setUint32(8, 16, true); dv.setUint32(16, 0xffffffff, true); dv.setUint32(20, 1, true);
  dv.setFloat32(24, scale, true); dv.setFloat32(28, offset, true);
  return dq;
}

/** Deterministic PRNG (mulberry32) for reproducible random tests. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Roughly Gaussian integers (sum of uniforms), scaled, clamped to [lo, hi]. */
export function randomInts(rand, n, scale, lo, hi) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const g = (rand() + rand() + rand() + rand() - 2) * 1.7;
    out[i] = Math.max(lo, Math.min(hi, Math.round(g * scale))) | 0;
  }
  return out;
}
