// WebGPU (WGSL compute) decoder for anspack files, beside the CPU decoder (src/index.js).
//
//   import { decodeGPU } from 'anspack';
//   const { tensors, byName } = await decodeGPU(bytes, { device });   // device: a GPUDevice (optional)
//   byName.w.data     // typed array (as decode() returns), checksum verified
//   byName.w.buffer   // with { keepBuffers: true }: GPUBuffer holding the values, packed little-endian
//
// READ ME FIRST (the algorithm; spec/FORMAT.md sections 7, 10, 11)
// - Entry i belongs to lane j = i mod L, so the entries form rows r = 0 .. R-1 (R = ceil(n / L)):
//   row r holds entries r*L .. r*L+L-1, one per lane. Every lane decodes its entry of a row in
//   parallel (one invocation per lane). Whether a lane refills after D(x) depends only on its own
//   state (x < 2^16), but WHICH word it reads depends on every entry before it in decode order:
//   entry i reads word k = number of refills among entries < i. So per row:
//       flag[j] = (state after D < 2^16);  k[j] = base + exclusive_prefix_sum(flag)[j];
//       base += sum(flag)
//   and a lane may not decode row r+1 before its row-r refill, which needs the prefix sum over ALL
//   lanes of row r. The rows are therefore sequential steps separated by a prefix sum over L flags.
// - Two schedules of that loop (same results, `strategy` option):
//   * 'single': one workgroup of 256 invocations per tensor loops over the rows; each invocation
//     owns c = ceil(L/256) consecutive lanes (so lane order = invocation order) and the prefix sum
//     is a workgroup scan (17 barriers per row). Any L. All 'single' tensors of a batch share ONE
//     dispatch (one workgroup per tensor, shared buffers, per-tensor descriptors: WGSL_FUSED), so a
//     file's tensors decode in parallel with each other.
//   * 'rows': ceil(L/256) workgroups, one invocation per lane, two dispatches per row: rowStep
//     (apply the previous row's refills, decode this row, workgroup scan of the flags) and rowScan
//     (one workgroup scans the per-workgroup totals into per-workgroup word bases): 2R+2 dispatches
//     for one tensor, with a device-wide step between rows.
//   'auto' picks 'rows' when L >= 16384, else 'single'. Rough cost model (no real GPU measured yet;
//   benchmarks/gpu_bench.py --strategy measures both): 'single' ~ R * (L/256 serial decode steps
//   of ~0.25 us + a ~0.4 us scan), 'rows' ~ R * (2 dispatches of ~5 us): equal near L ~ 10^4.
//   Both are bound by R = n/L sequential rows; see the lane-group layout proposed in issue 10.
// - A lane's refill flag is stored implicitly: after D a state below 2^16 is exactly a pending
//   refill (valid states are >= 2^16), so no flag array is needed.
// - Under-run (more refills than W words) is detected from the final word count (a read past W
//   returns 0 and decoding stops once the running count exceeds W); leftover words and final states
//   (all 2^16) are checked on the CPU after reading back the count and the L states.
// - FxHash26 (the ids checksum) is a sequential chain h -> ((rotl5(h) ^ a) * K) mod 2^26 with no
//   associative form, so it cannot be a parallel reduction: the ids come back to the CPU (packed as
//   u8 when V <= 256, else u16) and are hashed there. A pack kernel turns the u32 ids into the ids
//   readback and the values (the tensor's dtype, little-endian, 4/2/1 per u32 word).
// - Raw tensors (coding 1), empty tensors and dequantization are handled on the CPU exactly as
//   decode() does (decodeTensor), so the results equal the CPU decoder's.
// - Spec revision 2. PAIRS (section 7.1): the stream codes N = n/2 symbols whose values are u16
//   pairs; the GPU decodes them as a uint16 tensor of N entries and the packed values, read as bytes,
//   are the n entries. Chunks (section 7.2): each chunk is decoded as a tensor of its own (a "part":
//   its L states, its W_k words, its symbols; checked against its chunk checksum), so the chunks of
//   one tensor run in parallel workgroups of one dispatch; the parts' values are then joined on the
//   CPU (and, with keepBuffers, on the GPU by buffer copies, when each chunk's values fill whole
//   4-byte words; otherwise that tensor is decoded on the CPU path), the block checksum and the table
//   checksum (over the chunk checksums) checked once for the tensor, and dequantization applied.
// - Spec revision 3. PRODUCT (section 7.3): the model uploaded is the pair model derived on the CPU
//   from the stored entry model (header.js ransModel): V^2 pair ids with u16 pair values, decoded
//   exactly as plain pairs.
// - nibbles (decode()'s option): for a tensor returned as nibbles the model's values are the packed
//   nibbles (an entry's low 4 bits; a PAIRS pair value's two entries as one byte) and the pack kernel
//   writes 4 (8) bits per symbol instead of the dtype's width (valBits). Chunks that start on a byte
//   of the packed bytes (PAIRS, or an even chunk size) are packed each on the GPU and joined as bytes;
//   other chunked tensors and row-group tensors are decoded as entries and packed on the CPU
//   (nibbles.js packNibbles) when joined.

import { AnspackError } from './errors.js';
import { fxhash26Typed } from './fxhash.js';
import { parseHeader, blockChecksum, chunkTables, ransModel, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_ENTRIES, STATE_LOW, BLOCK_CHECKSUM_AT, objectOption, booleanOption, countOption } from './header.js';
import { dequantizeBlock } from './dequant.js';
import { decodeTensor, groupChecksumError } from './index.js';
import { placeGroupPiece } from './groups.js';
import { returnsNibbles, packNibbles, nibbleValues, nibbleDtype } from './nibbles.js';

const WG = 256;
const ROWS_MIN_LANES = 16384;
const MAX_WORKGROUPS_PER_DIM = 65535;
/** GPU memory one batch of tensors may use before it is submitted and read back. */
const DEFAULT_BATCH_BYTES = 256 * 2 ** 20;

const GPU_ARRAY_TYPES = {
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
};

// WGSL shared by both shader modules (each declares `scan: array<u32, WG>` in workgroup memory).
const WGSL_SCAN = /* wgsl */ `
// Inclusive prefix sum of v over the workgroup (Hillis-Steele); scan[WG-1] is then the total.
fn wgScan(t: u32, v: u32) -> u32 {
  scan[t] = v;
  workgroupBarrier();
  for (var off = 1u; off < WG; off = off << 1u) {
    var a = 0u;
    if (t >= off) { a = scan[t - off]; }
    workgroupBarrier();
    scan[t] = scan[t] + a;
    workgroupBarrier();
  }
  return scan[t];
}
`;

/** The WGSL of the 'rows' schedule (entry points rowStep, rowScan, pack; one tensor per bind group). */
export const WGSL = /* wgsl */ `
struct Params {
  n: u32, L: u32, W: u32, P: u32,
  rows: u32, c: u32, G: u32, M: u32,
  valOff: u32, idBytes: u32, valBits: u32, nwgX: u32,
  idWords: u32, valWords: u32, pendOff: u32, pad0: u32,
}
@group(0) @binding(0) var<uniform> prm: Params;
// model: 2 u32 per slot (symbol id, f << 16 | slot - c[s]) for the 2^P slots, then the V values'
// bit patterns (zero-extended) at valOff
@group(0) @binding(1) var<storage, read> model: array<u32>;
@group(0) @binding(2) var<storage, read> words: array<u32>;   // the u16 word stream, 2 per u32
@group(0) @binding(3) var<storage, read_write> states: array<u32>;
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;
// ctl: [0] words consumed so far, [1] current row (rows strategy), [2, 2+G) word base of each
// workgroup for the previous row, [2+G, 2+2G) refills of each workgroup, [pendOff, pendOff+L)
// each lane's exclusive prefix of refills within its workgroup
@group(0) @binding(5) var<storage, read_write> ctl: array<u32>;
@group(0) @binding(6) var<storage, read_write> outIds: array<u32>;
@group(0) @binding(7) var<storage, read_write> outVals: array<u32>;

const WG: u32 = 256u;
const LOW: u32 = 65536u;
var<workgroup> scan: array<u32, 256>;

fn word(k: u32) -> u32 {
  if (k >= prm.W) { return 0u; }
  return (words[k >> 1u] >> ((k & 1u) << 4u)) & 0xFFFFu;
}

// s, x = D(x) for entry i: stores the symbol id, returns the new state (not yet renormalized).
fn decodeEntry(x: u32, i: u32) -> u32 {
  let slot = x & (prm.M - 1u);
  let fb = model[2u * slot + 1u];
  ids[i] = model[2u * slot];
  return (fb >> 16u) * (x >> prm.P) + (fb & 0xFFFFu);
}

${WGSL_SCAN}
// Strategy 'rows', dispatch 1 of each row (G workgroups): finish the previous row's refills, decode
// this row, scan the refill flags within the workgroup.
@compute @workgroup_size(256)
fn rowStep(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let g = wg.x;
  let j = g * WG + t;
  let L = prm.L;
  let r = ctl[1];
  let live = ctl[0] <= prm.W;
  var flag = 0u;
  if (j < L) {
    var x = states[j];
    if (x < LOW) { x = (x << 16u) | word(ctl[2u + g] + ctl[prm.pendOff + j]); }
    if (live && r < prm.rows) {
      let i = r * L + j;
      if (i < prm.n) {
        x = decodeEntry(x, i);
        flag = select(0u, 1u, x < LOW);
      }
    }
    states[j] = x;
  }
  let incl = wgScan(t, flag);
  if (j < L) { ctl[prm.pendOff + j] = incl - flag; }
  if (t == WG - 1u) { ctl[2u + prm.G + g] = incl; }
}

// Strategy 'rows', dispatch 2 of each row (one workgroup): word base of each workgroup.
@compute @workgroup_size(256)
fn rowScan(@builtin(local_invocation_index) t: u32) {
  let G = prm.G;
  let base = ctl[0];
  let row = ctl[1];
  storageBarrier();
  let per = (G + WG - 1u) / WG;
  let g0 = min(t * per, G);
  let g1 = min(g0 + per, G);
  var sum = 0u;
  for (var g = g0; g < g1; g = g + 1u) { sum = sum + ctl[2u + G + g]; }
  let incl = wgScan(t, sum);
  var run = base + incl - sum;
  for (var g = g0; g < g1; g = g + 1u) {
    ctl[2u + g] = run;
    run = run + ctl[2u + G + g];
  }
  storageBarrier();
  if (t == WG - 1u) {
    ctl[0] = base + incl;
    ctl[1] = row + 1u;
  }
}

// ids (u32) -> packed ids for readback (u8 or u16) and packed values (4, 8, 16 or 32 bits each).
@compute @workgroup_size(256)
fn pack(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let w = (wg.y * prm.nwgX + wg.x) * WG + t;
  let n = prm.n;
  if (ctl[0] != prm.W) { return; }   // corrupt stream: reported from the count, nothing to pack
  if (w < prm.idWords) {
    let per = 4u / prm.idBytes;
    var acc = 0u;
    for (var q = 0u; q < per; q = q + 1u) {
      let i = w * per + q;
      if (i < n) { acc = acc | (ids[i] << (q * 8u * prm.idBytes)); }
    }
    outIds[w] = acc;
  }
  if (w < prm.valWords) {
    let per = 32u / prm.valBits;
    var acc = 0u;
    for (var q = 0u; q < per; q = q + 1u) {
      let i = w * per + q;
      if (i < n) { acc = acc | (model[prm.valOff + ids[i]] << (q * prm.valBits)); }
    }
    outVals[w] = acc;
  }
}
`;

/**
 * The WGSL of the 'single' schedule, fused: one workgroup per tensor, every 'single' tensor of a
 * batch in ONE dispatch (entry points decodeFused, packFused). Tensors are described by `desc` and
 * live at offsets in shared buffers.
 */
export const WGSL_FUSED = /* wgsl */ `
struct Desc {
  n: u32, L: u32, W: u32, P: u32,
  rows: u32, c: u32, modelOff: u32, valOff: u32,
  wordOff: u32, stateOff: u32, idOff: u32, outIdOff: u32,
  outValOff: u32, idBytes: u32, valBits: u32, idWords: u32,
  valWords: u32, packStart: u32, pad0: u32, pad1: u32,
}
struct FusedParams { T: u32, nwgX: u32, packGroups: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> fp: FusedParams;
@group(0) @binding(1) var<storage, read> desc: array<Desc>;
// inp: each tensor's model (2 u32 per slot: symbol id, f << 16 | slot - c[s]; then the V values'
// zero-extended bit patterns) at modelOff / valOff, then the word streams (u16 pairs; wordOff counts u16)
@group(0) @binding(2) var<storage, read> inp: array<u32>;
@group(0) @binding(3) var<storage, read_write> states: array<u32>;
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;
@group(0) @binding(5) var<storage, read_write> consumed: array<u32>;   // words read, per tensor
@group(0) @binding(6) var<storage, read_write> outIds: array<u32>;
@group(0) @binding(7) var<storage, read_write> outVals: array<u32>;

const WG: u32 = 256u;
const LOW: u32 = 65536u;
var<workgroup> scan: array<u32, 256>;

fn word(wordOff: u32, W: u32, k: u32) -> u32 {
  if (k >= W) { return 0u; }
  let q = wordOff + k;
  return (inp[q >> 1u] >> ((q & 1u) << 4u)) & 0xFFFFu;
}

${WGSL_SCAN}
// Workgroup = tensor. Invocation t owns lanes [t*c, t*c+c) (consecutive, so lane order = invocation
// order); per row: decode, count refills, workgroup prefix sum, refill from base + prefix.
@compute @workgroup_size(256)
fn decodeFused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let d = desc[wg.x];
  let L = d.L;
  let n = d.n;
  let mask = (1u << d.P) - 1u;
  let j0 = min(t * d.c, L);
  let j1 = min(j0 + d.c, L);
  var base = 0u;
  for (var r = 0u; r < d.rows; r = r + 1u) {
    let rowStart = r * L;
    let jEnd = min(j1, n - rowStart);
    var cnt = 0u;
    for (var j = j0; j < jEnd; j = j + 1u) {
      var x = states[d.stateOff + j];
      let e = d.modelOff + 2u * (x & mask);
      let fb = inp[e + 1u];
      ids[d.idOff + rowStart + j] = inp[e];
      x = (fb >> 16u) * (x >> d.P) + (fb & 0xFFFFu);
      states[d.stateOff + j] = x;
      cnt = cnt + select(0u, 1u, x < LOW);
    }
    let incl = wgScan(t, cnt);
    if (cnt > 0u) {
      var k = base + incl - cnt;
      for (var j = j0; j < jEnd; j = j + 1u) {
        let x = states[d.stateOff + j];
        if (x < LOW) {
          states[d.stateOff + j] = (x << 16u) | word(d.wordOff, d.W, k);
          k = k + 1u;
        }
      }
    }
    let total = workgroupUniformLoad(&scan[WG - 1u]);
    workgroupBarrier();
    base = base + total;
    if (base > d.W) { break; }   // under-run: stop early (reported from the count)
  }
  if (t == 0u) { consumed[wg.x] = base; }
}

// ids (u32) -> packed ids for readback (u8 or u16) and packed values; workgroups of all tensors in
// one flat grid (tensor found by binary search on packStart).
@compute @workgroup_size(256)
fn packFused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let g = wg.y * fp.nwgX + wg.x;
  if (g >= fp.packGroups) { return; }
  var lo = 0u;
  var hi = fp.T - 1u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (desc[mid].packStart <= g) { lo = mid; } else { hi = mid - 1u; }
  }
  let d = desc[lo];
  if (consumed[lo] != d.W) { return; }   // corrupt stream: reported from the count, nothing to pack
  let w = (g - d.packStart) * WG + t;
  if (w < d.idWords) {
    let per = 4u / d.idBytes;
    var acc = 0u;
    for (var q = 0u; q < per; q = q + 1u) {
      let i = w * per + q;
      if (i < d.n) { acc = acc | (ids[d.idOff + i] << (q * 8u * d.idBytes)); }
    }
    outIds[d.outIdOff + w] = acc;
  }
  if (w < d.valWords) {
    let per = 32u / d.valBits;
    var acc = 0u;
    for (var q = 0u; q < per; q = q + 1u) {
      let i = w * per + q;
      if (i < d.n) { acc = acc | (inp[d.valOff + ids[d.idOff + i]] << (q * d.valBits)); }
    }
    outVals[d.outValOff + w] = acc;
  }
}
`;

const DESC_U32 = 20;
const pipelineCache = new WeakMap();

function storageLayout(device, label) {
  const entries = [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } }];
  for (let b = 1; b <= 7; b++) {
    entries.push({ binding: b, visibility: GPUShaderStage.COMPUTE, buffer: { type: b <= 2 ? 'read-only-storage' : 'storage' } });
  }
  return device.createBindGroupLayout({ entries, label });
}

/** The compute pipelines for a device (created once; shader or pipeline errors are thrown). */
function pipelines(device) {
  let p = pipelineCache.get(device);
  if (p) return p;
  device.pushErrorScope('validation');
  const make = (code, label, names) => {
    const module = device.createShaderModule({ code, label });
    const layout = storageLayout(device, label);
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const out = { layout };
    for (const entryPoint of names) out[entryPoint] = device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint }, label: entryPoint });
    return out;
  };
  const ready = {
    rows: make(WGSL, 'anspack-rows', ['rowStep', 'rowScan', 'pack']),
    fused: make(WGSL_FUSED, 'anspack-fused', ['decodeFused', 'packFused']),
  };
  p = device.popErrorScope().then((error) => {
    if (error) {
      pipelineCache.delete(device);
      throw new Error(`anspack: the WebGPU decoder's shaders were rejected by this device: ${error.message}`);
    }
    return ready;
  });
  pipelineCache.set(device, p);
  return p;
}

/** Request a WebGPU device with the adapter's largest buffer limits; throws BadArgument without WebGPU. */
export async function requestDevice() {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) throw new AnspackError('BadArgument', 'WebGPU is not available here (navigator.gpu is undefined); pass options.device or use decode()');
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new AnspackError('BadArgument', 'WebGPU is not available here (navigator.gpu.requestAdapter() returned null)');
  return adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
}

const pad4 = (bytes) => Math.max(4, Math.ceil(bytes / 4) * 4);

function createBuffer(device, size, usage, label, made) {
  const b = device.createBuffer({ size: pad4(size), usage, label });
  made.push(b);
  return b;
}

/** A buffer holding `data` (a typed array; its byte length is padded to 4). */
function uploadBuffer(device, data, usage, label, made) {
  const b = createBuffer(device, data.byteLength, usage | GPUBufferUsage.COPY_DST, label, made);
  if (data.byteLength % 4 === 0) {
    device.queue.writeBuffer(b, 0, data);
  } else {
    const padded = new Uint8Array(pad4(data.byteLength));
    padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    device.queue.writeBuffer(b, 0, padded);
  }
  return b;
}

function gpuOptions(options) {
  objectOption(options);
  const nibbles = booleanOption(options, 'nibbles', false);
  const strategy = options.strategy ?? 'auto';
  if (!['auto', 'single', 'rows'].includes(strategy)) throw new AnspackError('BadArgument', `strategy must be 'auto', 'single' or 'rows', got ${strategy}`);
  const maxEntries = countOption(options, 'maxEntries', DEFAULT_MAX_ENTRIES);
  const maxTotalEntries = countOption(options, 'maxTotalEntries', DEFAULT_MAX_TOTAL_ENTRIES);
  const batchBytes = countOption(options, 'batchBytes', DEFAULT_BATCH_BYTES);
  return {
    verify: options.verify ?? true,
    dequantize: options.dequantize ?? false,
    readback: options.readback ?? true,
    keepBuffers: options.keepBuffers ?? false,
    nibbles, batchBytes, strategy, maxEntries, maxTotalEntries,
  };
}

/**
 * Bits of one symbol's value in the packed values: the dtype's (PAIRS: a u16 pair value), or with
 * nibbles (decode()'s option; t.nib on a unit decoded straight into the packed bytes) 4 per entry,
 * 8 per PAIRS pair value (its two entries' nibbles).
 */
function valueBits(t, nib) {
  if (nib) return t.pairs ? 8 : 4;
  return 8 * (t.pairs ? 2 : t.itemSize);
}

/** Sizes and choices for one rANS tensor (no GPU work). */
function plan(t, opts, maxBinding) {
  // n: symbols (pairs: n/2); V: symbol ids (PRODUCT: the V^2 pair ids of the derived model)
  const n = t.symbols, L = t.lanes, V = t.alphabet, M = 2 ** t.precision;
  const G = Math.ceil(L / WG);
  let strategy = opts.strategy === 'auto' ? (L >= ROWS_MIN_LANES ? 'rows' : 'single') : opts.strategy;
  if (strategy === 'rows' && G > MAX_WORKGROUPS_PER_DIM) strategy = 'single';
  const idBytes = V <= 256 ? 1 : 2;
  const valBits = valueBits(t, t.nib);
  const pl = {
    n, L, W: t.words, V, M, P: t.precision, G, strategy, idBytes, valBits,
    rows: Math.ceil(n / L), c: G,
    idWords: Math.ceil(n * idBytes / 4), valWords: Math.ceil(n * valBits / 32),
    modelU32: 2 * M + V, hashIds: opts.verify || opts.readback,
  };
  pl.packGroups = Math.ceil(Math.max(pl.idWords, pl.valWords) / WG);
  // GPU memory, dominated by the u32 ids
  pl.gpuBytes = 4 * (n + pl.modelU32 + L + pl.idWords + pl.valWords) + 2 * t.words;
  if (4 * n > maxBinding || 4 * (2 + 2 * G + L) > maxBinding) {
    pl.error = new AnspackError('LimitExceeded', `${n} entries (${4 * n} bytes of ids on the GPU) exceed the device's storage buffer limit of ${maxBinding} bytes`, { offset: t.entryOffset + 48, tensor: t.name });
  }
  return pl;
}

/**
 * Decode every tensor of a file, rANS tensors on the GPU (WebGPU compute), the rest as decode() does.
 *
 * @param {ArrayBuffer | ArrayBufferView} buffer  the whole file
 * @param {object} [options]
 * @param {GPUDevice} [options.device]  the device to use (default: one from navigator.gpu)
 * @param {boolean} [options.verify=true]  compare header, block and ids checksums (ids hashed on the CPU);
 *   each tensor's `checksum` is computed when verify or readback is on (else null: no ids read back)
 * @param {boolean} [options.readback=true]  return each tensor's values as a typed array (`data`)
 * @param {boolean} [options.keepBuffers=false]  also return each tensor's values as a GPUBuffer
 *   (`buffer`, usage STORAGE | COPY_SRC, n * itemSize bytes rounded up to 4, little-endian; with
 *   nibbles the packed bytes); the caller destroys it
 * @param {boolean} [options.dequantize=false]  as decode() (on the CPU; needs readback)
 * @param {boolean} [options.nibbles=false]  as decode(): int8 / uint8 tensors whose values fit in 4 bits
 *   come back packed two entries a byte (dtype 'int4' / 'uint4', `data` a Uint8Array of ceil(n / 2),
 *   `buffer` those bytes), packed by the GPU's pack kernel
 * @param {'auto'|'single'|'rows'} [options.strategy='auto']  the schedule (see READ ME FIRST)
 * @param {number} [options.batchBytes=256 MiB]  GPU memory for one batch of tensors decoded by one
 *   submission (a tensor larger than this is a batch of its own)
 * @param {number} [options.maxEntries=2**28]  limit on the entries of any one tensor
 * @param {number} [options.maxTotalEntries=2**30]  limit on the entries of all tensors
 * @returns {Promise<{tensors: object[], byName: Object<string, object>, metadata: object, stats: object}>}
 */
export async function decodeGPU(buffer, options = {}) {
  const opts = gpuOptions(options);
  if (opts.dequantize && !opts.readback) throw new AnspackError('BadArgument', 'dequantize needs readback (it runs on the CPU)');
  const hdr = parseHeader(buffer, { maxEntries: opts.maxEntries, verify: opts.verify });
  let total = 0;
  for (const t of hdr.tensors) total += t.n;
  if (total > opts.maxTotalEntries) {
    throw new AnspackError('LimitExceeded', `the file's tensors hold ${total} entries in all, above the limit maxTotalEntries = ${opts.maxTotalEntries}`, { offset: 40 });
  }
  const device = options.device ?? await requestDevice();
  const pls = await pipelines(device);
  const maxBinding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const stats = { gpuTensors: 0, cpuTensors: 0, dispatches: 0, submits: 0, strategies: {} };
  const tensors = [];
  // Units of work: tensors, and the chunks of chunked tensors as parts (see READ ME FIRST).
  const units = [];
  for (const t of hdr.tensors) {
    if (t.coding === 'groups') {
      // Row groups (spec section 7.4): each sub-block decoded as a coding-0 tensor (its chunks as
      // parts), the rows placed on the CPU once all are back (joinGroups). Without readback the
      // values never come to the CPU: decoded there instead.
      if (!opts.readback) {
        units.push({ cpuOnly: t });
        continue;
      }
      const G = t.groups.length;
      t.groups.forEach((sub, g) => {
        const subUnits = sub.chunks > 1 ? chunkParts(hdr.bytes, sub) : [{ ...sub }];
        subUnits.forEach((u, q) => {
          u.grp = { parent: t, g, first: g === 0 && q === 0, last: g === G - 1 && q === subUnits.length - 1 };
          units.push(u);
        });
      });
      continue;
    }
    const nib = returnsNibbles(hdr.bytes, t, opts);
    if (t.coding === 'rans' && t.n > 0 && t.chunks > 1) {
      // nibbles: chunks that start on a byte of the packed bytes (PAIRS: a byte per symbol; else an
      // even chunk size) are packed on the GPU, others decoded as entries and packed when joined
      const direct = nib && (t.pairs || t.chunkSize % 2 === 0);
      if (opts.keepBuffers && ((nib && !direct) || (t.chunkSize * valueBits(t, direct)) % 32 !== 0)) units.push({ cpuOnly: t });
      else units.push(...chunkParts(hdr.bytes, t, direct));
    } else {
      units.push(nib && t.coding === 'rans' ? { ...t, nib } : t);
    }
  }
  let parts = [];  // finished parts of the chunked tensor being joined
  let groupUnits = [];  // finished units (sub-blocks, parts of chunked ones) of the row-group tensor being joined
  // Tensors go to the GPU in batches of consecutive tensors (one command buffer, one submit, the
  // readbacks awaited together; all 'single' tensors of a batch in one dispatch); results and
  // errors are then taken in table order, so the first bad tensor is reported, as decode() does.
  let i = 0;
  try {
    while (i < units.length) {
      const jobs = [];
      const fused = [];
      let bytes = 0;
      let fusedIds = 0;
      const enc = device.createCommandEncoder({ label: 'anspack decodeGPU' });
      try {
        while (i < units.length && (jobs.length === 0 || bytes < opts.batchBytes)) {
          const t = units[i];
          if (t.cpuOnly || t.coding !== 'rans' || t.n === 0) {
            jobs.push({ cpu: t.cpuOnly ?? t });
            i++;
            continue;
          }
          const job = { t, pl: plan(t, opts, maxBinding), made: [] };
          // a chunked tensor's block checksum: with its first part; a row-group tensor's: with its first unit
          const whole = t.grp ? t.grp.parent : t.part ? t.part.parent : t;
          const first = t.grp ? t.grp.first : !(t.part && t.part.k > 0);
          if (!job.pl.error && opts.verify && first) {
            const h = blockChecksum(hdr.bytes, whole);
            if (h !== whole.blockChecksum) {
              job.error = new AnspackError('ChecksumMismatch', `block_checksum: the model and dequant bytes hash to 0x${h.toString(16)}, the table says 0x${whole.blockChecksum.toString(16)}`, { offset: whole.entryOffset + BLOCK_CHECKSUM_AT, tensor: whole.name });
            }
          }
          job.error = job.error ?? job.pl.error;
          if (!job.error && job.pl.strategy === 'single') {
            if (fused.length > 0 && fusedIds + 4 * t.symbols > maxBinding) break; // shared buffers full
            fused.push(job);
            fusedIds += 4 * t.symbols;
          } else if (!job.error) {
            startRows(device, pls.rows, hdr, job, opts, stats, enc);
          }
          if (!job.error && first) stats.strategies[t.name] = job.pl.strategy;
          bytes += job.error ? 0 : job.pl.gpuBytes;
          jobs.push(job);
          i++;
        }
        if (fused.length > 0) startFused(device, pls.fused, hdr, fused, opts, stats, enc);
        if (jobs.some((job) => job.staging)) {
          device.queue.submit([enc.finish()]);
          stats.submits += 1;
          for (const job of jobs) {
            if (!job.staging || job.readback) continue;
            const staging = job.staging;
            const read = staging.mapAsync(GPUMapMode.READ).then(() => {
              const got = new Uint8Array(staging.getMappedRange().slice(0));
              staging.unmap();
              return got;
            });
            read.catch(() => {}); // aborted if an earlier tensor throws; its own finish sees the error
            for (const other of jobs) if (other.staging === staging) other.readback = read;
          }
        }
        for (const job of jobs) {
          if (job.cpu) {
            tensors.push(decodeOnCPU(device, hdr, job.cpu, opts));
            stats.cpuTensors++;
          } else {
            if (job.error) throw job.error;
            const done = await finishJob(hdr, job, opts);
            if (job.t.grp) {
              groupUnits.push({ job, done });
              const sub = job.t.part ? job.t.part.parent : null;
              if (sub && job.t.part.k === sub.chunks - 1 && opts.verify) {
                // a chunked sub-block: its chunk checksums hash to its group checksum (before the next group)
                const h = chunkTables(new DataView(hdr.bytes.buffer, hdr.bytes.byteOffset, hdr.bytes.byteLength), sub).tableChecksum;
                if (h !== sub.checksum) {
                  for (const u of groupUnits) u.done.buffer?.destroy();
                  throw groupChecksumError(sub, h);
                }
              }
              if (job.t.grp.last) {
                tensors.push(await joinGroups(device, hdr, groupUnits, opts));
                groupUnits = [];
                stats.gpuTensors++;
              }
            } else if (!job.t.part) {
              tensors.push(done);
              stats.gpuTensors++;
            } else {
              parts.push({ job, done });
              if (job.t.part.k === job.t.part.parent.chunks - 1) {
                tensors.push(await joinParts(device, hdr, parts, opts));
                parts = [];
                stats.gpuTensors++;
              }
            }
          }
        }
      } finally {
        for (const job of jobs) release(job);
      }
    }
  } catch (e) {
    // the GPU buffers handed out so far (keepBuffers) go with the error: finished tensors, and the
    // parts and group units of the tensor being joined (destroy() is idempotent)
    for (const t of tensors) t.buffer?.destroy();
    for (const u of [...parts, ...groupUnits]) u.done.buffer?.destroy();
    throw e;
  }
  const byName = Object.create(null);
  for (const t of tensors) byName[t.name] = t;
  return { tensors, byName, metadata: hdr.metadata, stats };
}

/** Raw and empty tensors: decodeTensor (the CPU decoder), uploaded with keepBuffers. */
function decodeOnCPU(device, hdr, t, opts) {
  const cpu = decodeTensor(hdr.bytes, t.name, { verify: opts.verify, dequantize: opts.dequantize, nibbles: opts.nibbles, maxEntries: opts.maxEntries });
  cpu.decodedOn = 'cpu';
  if (opts.keepBuffers) {
    cpu.buffer = uploadBuffer(device, cpu.data, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, t.name, []);
  }
  if (!opts.readback) delete cpu.data;
  return cpu;
}

function release(job) {
  if (!job.made) return;
  for (const b of job.made) b.destroy();
  if (job.outValBuf && !job.kept) job.outValBuf.destroy();
  job.made = null;
}

/**
 * The 2^P-slot table (symbol id, f << 16 | bias) followed by the values' zero-extended bit patterns,
 * for the coder's model (header.js ransModel: as stored, or with PRODUCT the derived pair model of
 * spec section 7.3, whose values are u16 pairs). With t.nib the values as packed nibbles: the low 4
 * bits of an entry, a pair value's two entries in one byte.
 */
function buildModel(bytes, t, out = new Uint32Array(2 * 2 ** t.precision + t.alphabet), at = 0) {
  const { cdf, vals } = ransModel(bytes, t);
  const V = t.alphabet, M = 2 ** t.precision;
  for (let s = 0; s < V; s++) {
    const c = cdf[s];
    const f = cdf[s + 1] - c;
    const fb = (f << 16) >>> 0;
    for (let slot = c; slot < c + f; slot++) {
      out[at + 2 * slot] = s;
      out[at + 2 * slot + 1] = (fb | (slot - c)) >>> 0;
    }
  }
  if (t.nib) {
    const packed = t.pairs ? nibbleValues(vals) : vals;
    for (let s = 0; s < V; s++) out[at + 2 * M + s] = packed[s] & (t.pairs ? 0xff : 0xf);
    return out;
  }
  const size = t.pairs ? 2 : t.itemSize;  // PAIRS: u16 pair values
  const mask = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  for (let s = 0; s < V; s++) out[at + 2 * M + s] = (vals[s] & mask) >>> 0;
  return out;
}

/** Staging buffer for a readback: the word count(s), the final states, packed ids, packed values. */
function readbackLayout(nCounts, lanes, idWords, valWords, hashIds, readback) {
  const states = 4 * nCounts;
  const ids = states + 4 * lanes;
  const vals = ids + (hashIds ? 4 * idWords : 0);
  const end = vals + (readback ? 4 * valWords : 0);
  return { states, ids, vals, end };
}

/** Strategy 'rows': one tensor, its own buffers, 2 dispatches per row. */
function startRows(device, pl3, hdr, job, opts, stats, enc) {
  const { t, pl } = job;
  const { bytes } = hdr;
  const { n, L, W, P, M, G, rows, idBytes, valBits, idWords, valWords, packGroups } = pl;
  const nwgX = Math.min(packGroups, MAX_WORKGROUPS_PER_DIM);
  const nwgY = Math.ceil(packGroups / nwgX);
  const pendOff = 2 + 2 * G;
  const made = job.made;
  const U = GPUBufferUsage;
  const params = new Uint32Array([
    n, L, W, P, rows, G, G, M,
    2 * M, idBytes, valBits, nwgX, idWords, valWords, pendOff, 0,
  ]);
  const paramBuf = uploadBuffer(device, params, U.UNIFORM, 'params', made);
  const modelBuf = uploadBuffer(device, buildModel(bytes, t), U.STORAGE, 'model', made);
  const wordBuf = uploadBuffer(device, bytes.subarray(t.wordsOffset, t.wordsOffset + 2 * W), U.STORAGE, 'words', made);
  const stateBuf = uploadBuffer(device, bytes.slice(t.statesOffset, t.statesOffset + 4 * L), U.STORAGE | U.COPY_SRC, 'states', made);
  const idBuf = createBuffer(device, 4 * n, U.STORAGE, 'ids', made);
  const ctlBuf = createBuffer(device, 4 * (pendOff + L), U.STORAGE | U.COPY_SRC, 'ctl', made);
  const outIdBuf = createBuffer(device, 4 * idWords, U.STORAGE | U.COPY_SRC, 'outIds', made);
  job.outValBuf = device.createBuffer({ size: pad4(4 * valWords), usage: U.STORAGE | U.COPY_SRC, label: t.name });

  const bind = device.createBindGroup({
    layout: pl3.layout,
    entries: [paramBuf, modelBuf, wordBuf, stateBuf, idBuf, ctlBuf, outIdBuf, job.outValBuf].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const pass = enc.beginComputePass({ label: t.name });
  pass.setBindGroup(0, bind);
  for (let r = 0; r < rows; r++) {
    pass.setPipeline(pl3.rowStep);
    pass.dispatchWorkgroups(G);
    pass.setPipeline(pl3.rowScan);
    pass.dispatchWorkgroups(1);
  }
  pass.setPipeline(pl3.rowStep); // the last row's refills
  pass.dispatchWorkgroups(G);
  pass.setPipeline(pl3.pack);
  pass.dispatchWorkgroups(nwgX, nwgY);
  pass.end();
  stats.dispatches += 2 * rows + 2;

  const lay = readbackLayout(1, L, idWords, valWords, pl.hashIds, opts.readback);
  const staging = createBuffer(device, lay.end, U.MAP_READ | U.COPY_DST, 'staging', made);
  enc.copyBufferToBuffer(ctlBuf, 0, staging, 0, 4);
  enc.copyBufferToBuffer(stateBuf, 0, staging, lay.states, 4 * L);
  if (pl.hashIds) enc.copyBufferToBuffer(outIdBuf, 0, staging, lay.ids, 4 * idWords);
  if (opts.readback) enc.copyBufferToBuffer(job.outValBuf, 0, staging, lay.vals, 4 * valWords);
  Object.assign(job, { staging, at: { count: 0, states: lay.states, ids: lay.ids, vals: lay.vals } });
}

/** Strategy 'single', fused: all given tensors in shared buffers, one dispatch to decode them all. */
function startFused(device, pl2, hdr, jobs, opts, stats, enc) {
  const { bytes } = hdr;
  const U = GPUBufferUsage;
  const T = jobs.length;
  const desc = new Uint32Array(DESC_U32 * T);
  let modelU32 = 0, wordsU16 = 0, lanes = 0, ids = 0, idWords = 0, valWords = 0, packGroups = 0;
  for (const job of jobs) {
    const p = job.pl;
    p.modelOff = modelU32; modelU32 += p.modelU32;
    p.wordOff = wordsU16; wordsU16 += p.W;
    p.stateOff = lanes; lanes += p.L;
    p.idOff = ids; ids += p.n;
    p.outIdOff = idWords; idWords += p.idWords;
    p.outValOff = valWords; valWords += p.valWords;
    p.packStart = packGroups; packGroups += p.packGroups;
  }
  const inp = new Uint32Array(modelU32 + Math.ceil(wordsU16 / 2));
  const inp16 = new Uint16Array(inp.buffer);
  const states = new Uint32Array(lanes);
  const dvIn = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  jobs.forEach((job, k) => {
    const { t, pl: p } = job;
    buildModel(bytes, t, inp, p.modelOff);
    const w0 = 2 * modelU32 + p.wordOff;
    for (let q = 0; q < p.W; q++) inp16[w0 + q] = dvIn.getUint16(t.wordsOffset + 2 * q, true);
    for (let j = 0; j < p.L; j++) states[p.stateOff + j] = dvIn.getUint32(t.statesOffset + 4 * j, true);
    desc.set([
      p.n, p.L, p.W, p.P, p.rows, p.c, p.modelOff, p.modelOff + 2 * p.M,
      2 * modelU32 + p.wordOff, p.stateOff, p.idOff, p.outIdOff,
      p.outValOff, p.idBytes, p.valBits, p.idWords,
      p.valWords, p.packStart, 0, 0,
    ], DESC_U32 * k);
  });
  const nwgX = Math.min(Math.max(packGroups, 1), MAX_WORKGROUPS_PER_DIM);
  const nwgY = Math.ceil(packGroups / nwgX);
  const made = jobs[0].made; // the shared buffers belong to the first job (released with it)
  const paramBuf = uploadBuffer(device, new Uint32Array([T, nwgX, packGroups, 0]), U.UNIFORM, 'fused params', made);
  const descBuf = uploadBuffer(device, desc, U.STORAGE, 'desc', made);
  const inpBuf = uploadBuffer(device, inp, U.STORAGE, 'models+words', made);
  const stateBuf = uploadBuffer(device, states, U.STORAGE | U.COPY_SRC, 'states', made);
  const idBuf = createBuffer(device, 4 * ids, U.STORAGE, 'ids', made);
  const countBuf = createBuffer(device, 4 * T, U.STORAGE | U.COPY_SRC, 'consumed', made);
  const outIdBuf = createBuffer(device, 4 * idWords, U.STORAGE | U.COPY_SRC, 'outIds', made);
  const outValBuf = createBuffer(device, 4 * valWords, U.STORAGE | U.COPY_SRC, 'outVals', made);
  const bind = device.createBindGroup({
    layout: pl2.layout,
    entries: [paramBuf, descBuf, inpBuf, stateBuf, idBuf, countBuf, outIdBuf, outValBuf].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const pass = enc.beginComputePass({ label: 'anspack fused' });
  pass.setBindGroup(0, bind);
  pass.setPipeline(pl2.decodeFused);
  pass.dispatchWorkgroups(T);
  pass.setPipeline(pl2.packFused);
  pass.dispatchWorkgroups(nwgX, nwgY);
  pass.end();
  stats.dispatches += 2;

  const hashIds = jobs[0].pl.hashIds;
  const lay = readbackLayout(T, lanes, idWords, valWords, hashIds, opts.readback);
  const staging = createBuffer(device, lay.end, U.MAP_READ | U.COPY_DST, 'staging', made);
  enc.copyBufferToBuffer(countBuf, 0, staging, 0, 4 * T);
  enc.copyBufferToBuffer(stateBuf, 0, staging, lay.states, 4 * lanes);
  if (hashIds) enc.copyBufferToBuffer(outIdBuf, 0, staging, lay.ids, 4 * idWords);
  if (opts.readback) enc.copyBufferToBuffer(outValBuf, 0, staging, lay.vals, 4 * valWords);
  jobs.forEach((job, k) => {
    const p = job.pl;
    job.staging = staging;
    job.at = { count: 4 * k, states: lay.states + 4 * p.stateOff, ids: lay.ids + 4 * p.outIdOff, vals: lay.vals + 4 * p.outValOff };
    if (opts.keepBuffers) {
      job.outValBuf = device.createBuffer({ size: pad4(4 * p.valWords), usage: U.STORAGE | U.COPY_SRC | U.COPY_DST, label: job.t.name });
      enc.copyBufferToBuffer(outValBuf, 4 * p.outValOff, job.outValBuf, 0, 4 * p.valWords);
    }
  });
}

/** Await a tensor's readback and check it as decode() does: word count, final states, ids checksum. */
async function finishJob(hdr, job, opts) {
  const { t, pl, at } = job;
  const { n, L, W } = pl;
  const where = { tensor: t.name };
  const of = t.part ? ` of chunk ${t.part.k}` : '';
  const pre = t.grp ? `group ${t.grp.g}: ` : '';  // a row group's sub-block (spec section 7.4)
  const got = await job.readback;
  const dv = new DataView(got.buffer);
  const k = dv.getUint32(at.count, true);
  if (k > W) throw new AnspackError('CorruptStream', `${pre}word stream${of} under-run: the symbols need more than its ${W} words`, { ...where, offset: t.wordsOffset + 2 * W });
  if (k < W) throw new AnspackError('CorruptStream', `${pre}words left over: ${k} of the ${W} words${of} read after its last symbol`, { ...where, offset: t.wordsOffset + 2 * k });
  const states = new Uint32Array(got.buffer, at.states, L);
  for (let j = 0; j < L; j++) {
    if (states[j] !== STATE_LOW) throw new AnspackError('CorruptStream', `${pre}lane ${j}${of} ends in a state other than 2^16 = ${STATE_LOW}`, { ...where, offset: t.statesOffset + 4 * j });
  }
  let checksum = null;
  if (pl.hashIds) {
    const Ids = pl.idBytes === 1 ? Uint8Array : Uint16Array;
    checksum = fxhash26Typed(new Ids(got.buffer, at.ids, n));
    if (opts.verify && checksum !== t.checksum) {
      if (t.grp && !t.part) throw groupChecksumError(t, checksum);
      if (t.part) throw new AnspackError('ChecksumMismatch', `${pre}chunk ${t.part.k}'s ids hash to 0x${checksum.toString(16)}, chunk_checksums[${t.part.k}] says 0x${t.checksum.toString(16)}`, { offset: t.checksumOffset, tensor: t.name });
      throw new AnspackError('ChecksumMismatch', `decoded data hashes to 0x${checksum.toString(16)}, the table says 0x${t.checksum.toString(16)}`, { offset: t.entryOffset + 32, tensor: t.name });
    }
  }
  const tensor = { name: t.name, shape: t.shape.slice(), dtype: t.dtype, checksum, decodedOn: 'gpu', strategy: pl.strategy };
  if (t.nib) {
    // the packed bytes (also what `buffer` holds with keepBuffers, read back or not)
    tensor.dtype = nibbleDtype(t.dtype);
    tensor.storedDtype = t.dtype;
    // ceil(entries / 2) bytes (PAIRS: a byte per symbol)
    if (opts.readback) tensor.data = new Uint8Array(got.buffer.slice(at.vals, at.vals + Math.ceil(n * pl.valBits / 8)));
  } else if (opts.readback) {
    const Ctor = GPU_ARRAY_TYPES[t.dtype];
    tensor.data = new Ctor(got.buffer.slice(at.vals, at.vals + n * pl.valBits / 8));  // PAIRS: 2n bytes = the entries
    if (opts.dequantize && t.dequantSize > 0) {
      const { bytes } = hdr;
      const dvf = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      tensor.data = dequantizeBlock(dvf, t.dequantOffset, t.dequantSize, tensor.data, { name: t.name, shape: t.shape.slice(), dtype: t.dtype });
      tensor.storedDtype = t.dtype;
      tensor.dtype = 'float32';
    }
  }
  if (opts.keepBuffers) {
    tensor.buffer = job.outValBuf;
    job.kept = true;
  }
  return tensor;
}

/**
 * The chunks of a chunked tensor (spec section 7.2) as parts: tensor-like objects for plan / start /
 * finish, each one stream (its symbols, L states, W_k words) checked against its chunk checksum.
 * Parts have no dequant block (the joined tensor is dequantized). With nib, each part is packed
 * into nibbles on the GPU.
 */
function chunkParts(bytes, t, nib = false) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const K = t.chunks, Q = t.chunkSize, L = t.lanes, per = t.pairs ? 2 : 1;
  const { chunkWords, chunkChecksums } = chunkTables(dv, t);
  const parts = [];
  let w0 = 0;
  for (let k = 0; k < K; k++) {
    const symbols = Math.min(t.symbols, (k + 1) * Q) - k * Q;
    const Wk = chunkWords[k];
    parts.push({
      ...t, symbols, n: symbols * per, words: Wk, chunkSize: 0, chunks: 1,
      statesOffset: t.statesOffset + 4 * L * k, wordsOffset: t.wordsOffset + 2 * w0,
      checksum: chunkChecksums[k], checksumOffset: t.chunkTableOffset + 4 * K + 4 * k,
      dequantSize: 0, dequantOffset: 0, part: { parent: t, k, at: k * Q * per }, nib,
    });
    w0 += Wk;
  }
  return parts;
}

/** Join the decoded parts of a chunked tensor: table checksum, values, GPU buffer, dequantization. */
async function joinParts(device, hdr, parts, opts) {
  const t = parts[0].job.t.part.parent;
  const { bytes } = hdr;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const checksum = chunkTables(dv, t).tableChecksum;
  if (opts.verify && checksum !== t.checksum) {
    for (const p of parts) if (p.done.buffer) p.done.buffer.destroy();
    throw new AnspackError('ChecksumMismatch', `the chunk checksums hash to 0x${checksum.toString(16)}, the table says 0x${t.checksum.toString(16)}`, { offset: t.entryOffset + 32, tensor: t.name });
  }
  const tensor = { name: t.name, shape: t.shape.slice(), dtype: t.dtype, checksum, decodedOn: 'gpu', strategy: parts[0].done.strategy, chunks: t.chunks };
  // with nibbles: the parts packed on the GPU (each starts on a byte), or their entries packed here
  const nib = returnsNibbles(bytes, t, opts);
  const direct = parts[0].job.t.nib;
  if (nib) {
    tensor.dtype = nibbleDtype(t.dtype);
    tensor.storedDtype = t.dtype;
  }
  if (opts.readback && nib) {
    const data = new Uint8Array(Math.ceil(t.n / 2));
    if (direct) {
      for (const p of parts) data.set(p.done.data, p.job.t.part.at / 2);
    } else {
      const entries = new (GPU_ARRAY_TYPES[t.dtype])(t.n);
      for (const p of parts) entries.set(p.done.data, p.job.t.part.at);
      packNibbles(entries, data);
    }
    tensor.data = data;
  } else if (opts.readback) {
    const data = new (GPU_ARRAY_TYPES[t.dtype])(t.n);
    for (const p of parts) data.set(p.done.data, p.job.t.part.at);
    tensor.data = data;
    if (opts.dequantize && t.dequantSize > 0) {
      tensor.data = dequantizeBlock(dv, t.dequantOffset, t.dequantSize, data, { name: t.name, shape: t.shape.slice(), dtype: t.dtype });
      tensor.storedDtype = t.dtype;
      tensor.dtype = 'float32';
    }
  }
  if (opts.keepBuffers) {
    // Every chunk but the last fills whole 4-byte words (checked before: else the CPU path; with
    // nibbles the parts were packed on the GPU), so the parts' buffers are copied back to back.
    const bytesOf = (entries) => (nib ? Math.ceil(entries / 2) : entries * t.itemSize);
    const buf = device.createBuffer({ size: pad4(bytesOf(t.n)), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: t.name });
    const enc = device.createCommandEncoder({ label: 'anspack join chunks' });
    for (const p of parts) {
      enc.copyBufferToBuffer(p.done.buffer, 0, buf, bytesOf(p.job.t.part.at), pad4(bytesOf(p.job.t.n)));
    }
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    for (const p of parts) p.done.buffer.destroy();
    tensor.buffer = buf;
  }
  return tensor;
}

/**
 * Join the decoded units of a row-group tensor (spec section 7.4): each sub-block's values (a whole
 * one, or its chunks' parts) copied row by row to their places (groups.js placeGroupPiece; the group
 * checksums were checked as the units finished), the table checksum over the stored group
 * checksums, a GPU buffer uploaded with keepBuffers, dequantization.
 */
async function joinGroups(device, hdr, units, opts) {
  const t = units[0].job.t.grp.parent;
  for (const u of units) u.done.buffer?.destroy();
  if (opts.verify && t.tableChecksum !== t.checksum) {
    throw new AnspackError('ChecksumMismatch', `the group checksums hash to 0x${t.tableChecksum.toString(16)}, the table says 0x${t.checksum.toString(16)}`, { offset: t.entryOffset + 32, tensor: t.name });
  }
  const data = new (GPU_ARRAY_TYPES[t.dtype])(t.n);
  for (const { job, done } of units) placeGroupPiece(t, job.t.grp.g, done.data, job.t.part ? job.t.part.at : 0, data);
  const tensor = { name: t.name, shape: t.shape.slice(), dtype: t.dtype, checksum: t.tableChecksum, decodedOn: 'gpu', strategy: units[0].done.strategy, groups: t.groups.length, data };
  if (returnsNibbles(hdr.bytes, t, opts)) {
    // nibbles: the rows are placed as entries, then packed
    tensor.data = new Uint8Array(Math.ceil(t.n / 2));
    packNibbles(data, tensor.data);
    tensor.dtype = nibbleDtype(t.dtype);
    tensor.storedDtype = t.dtype;
  }
  if (opts.keepBuffers) tensor.buffer = uploadBuffer(device, tensor.data, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, t.name, []);
  if (opts.dequantize && t.dequantSize > 0) {
    const dv = new DataView(hdr.bytes.buffer, hdr.bytes.byteOffset, hdr.bytes.byteLength);
    tensor.data = dequantizeBlock(dv, t.dequantOffset, t.dequantSize, data, { name: t.name, shape: t.shape.slice(), dtype: t.dtype });
    tensor.storedDtype = t.dtype;
    tensor.dtype = 'float32';
  }
  return tensor;
}
