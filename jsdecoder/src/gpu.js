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
//   * 'single': one workgroup of 256 invocations loops over the rows inside one dispatch; each
//     invocation owns c = ceil(L/256) consecutive lanes (so lane order = invocation order) and the
//     prefix sum is a workgroup scan (2 barriers per step, log2(256) = 8 steps). Any L; one dispatch.
//   * 'rows': ceil(L/256) workgroups, one invocation per lane, two dispatches per row: rowStep
//     (apply the previous row's refills, decode this row, workgroup scan of the flags) and rowScan
//     (one workgroup scans the per-workgroup totals into per-workgroup word bases). 2R+1 dispatches.
//   'auto' picks 'rows' when L >= 4096 (>= 16 workgroups), else 'single'.
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

import { AnspackError } from './errors.js';
import { fxhash26Typed } from './fxhash.js';
import { parseHeader, blockChecksum, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOTAL_ENTRIES, STATE_LOW, BLOCK_CHECKSUM_AT } from './header.js';
import { dequantizeBlock } from './dequant.js';
import { decodeTensor } from './index.js';

const WG = 256;
const ROWS_MIN_LANES = 4096;
const MAX_WORKGROUPS_PER_DIM = 65535;
/** GPU memory one batch of tensors may use before it is submitted and read back. */
const DEFAULT_BATCH_BYTES = 256 * 2 ** 20;

const GPU_ARRAY_TYPES = {
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
};

/** The WGSL of the decoder (one module, entry points decodeSingle, rowStep, rowScan, pack). */
export const WGSL = /* wgsl */ `
struct Params {
  n: u32, L: u32, W: u32, P: u32,
  rows: u32, c: u32, G: u32, M: u32,
  valOff: u32, idBytes: u32, valBytes: u32, nwgX: u32,
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

// Strategy 'single': one workgroup, all rows in one dispatch.
@compute @workgroup_size(256)
fn decodeSingle(@builtin(local_invocation_index) t: u32) {
  let L = prm.L;
  let n = prm.n;
  let j0 = min(t * prm.c, L);
  let j1 = min(j0 + prm.c, L);
  var base = 0u;
  for (var r = 0u; r < prm.rows; r = r + 1u) {
    let rowStart = r * L;
    let jEnd = min(j1, n - rowStart);
    var cnt = 0u;
    for (var j = j0; j < jEnd; j = j + 1u) {
      let x = decodeEntry(states[j], rowStart + j);
      states[j] = x;
      cnt = cnt + select(0u, 1u, x < LOW);
    }
    let incl = wgScan(t, cnt);
    if (cnt > 0u) {
      var k = base + incl - cnt;
      for (var j = j0; j < jEnd; j = j + 1u) {
        let x = states[j];
        if (x < LOW) {
          states[j] = (x << 16u) | word(k);
          k = k + 1u;
        }
      }
    }
    let total = workgroupUniformLoad(&scan[WG - 1u]);
    workgroupBarrier();
    base = base + total;
    if (base > prm.W) { break; }
  }
  if (t == 0u) { ctl[0] = base; }
}

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

// ids (u32) -> packed ids for readback (u8 or u16) and packed values (1, 2 or 4 bytes).
@compute @workgroup_size(256)
fn pack(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let w = (wg.y * prm.nwgX + wg.x) * WG + t;
  let n = prm.n;
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
    let per = 4u / prm.valBytes;
    var acc = 0u;
    for (var q = 0u; q < per; q = q + 1u) {
      let i = w * per + q;
      if (i < n) { acc = acc | (model[prm.valOff + ids[i]] << (q * 8u * prm.valBytes)); }
    }
    outVals[w] = acc;
  }
}
`;

const pipelineCache = new WeakMap();

/** The compute pipelines for a device (created once; shader or pipeline errors are thrown). */
function pipelines(device) {
  let p = pipelineCache.get(device);
  if (p) return p;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: WGSL, label: 'anspack-gpu' });
  const entries = [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } }];
  for (let b = 1; b <= 7; b++) {
    entries.push({ binding: b, visibility: GPUShaderStage.COMPUTE, buffer: { type: b <= 2 ? 'read-only-storage' : 'storage' } });
  }
  const layout = device.createBindGroupLayout({ entries, label: 'anspack-gpu' });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const make = (entryPoint) => device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint }, label: entryPoint });
  const ready = { layout, decodeSingle: make('decodeSingle'), rowStep: make('rowStep'), rowScan: make('rowScan'), pack: make('pack') };
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

function checkOptions(options) {
  if (options === null || typeof options !== 'object') throw new AnspackError('BadArgument', `options must be an object, got ${options}`);
  const strategy = options.strategy ?? 'auto';
  if (!['auto', 'single', 'rows'].includes(strategy)) throw new AnspackError('BadArgument', `strategy must be 'auto', 'single' or 'rows', got ${strategy}`);
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxTotalEntries = options.maxTotalEntries ?? DEFAULT_MAX_TOTAL_ENTRIES;
  const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
  for (const [k, v] of [['maxEntries', maxEntries], ['maxTotalEntries', maxTotalEntries], ['batchBytes', batchBytes]]) {
    if (typeof v !== 'number' || !(v >= 0)) throw new AnspackError('BadArgument', `${k} must be a non-negative number, got ${v}`);
  }
  return {
    verify: options.verify ?? true,
    dequantize: options.dequantize ?? false,
    readback: options.readback ?? true,
    keepBuffers: options.keepBuffers ?? false,
    batchBytes,
    strategy, maxEntries, maxTotalEntries,
  };
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
 * @param {boolean} [options.keepBuffers=false]  also return each rANS tensor's values as a GPUBuffer
 *   (`buffer`, usage STORAGE | COPY_SRC, n * itemSize bytes rounded up to 4, little-endian); the
 *   caller destroys it
 * @param {boolean} [options.dequantize=false]  as decode() (on the CPU; needs readback)
 * @param {'auto'|'single'|'rows'} [options.strategy='auto']  the schedule (see READ ME FIRST)
 * @param {number} [options.batchBytes=256 MiB]  GPU memory for one batch of tensors decoded by one
 *   submission (a tensor larger than this is a batch of its own)
 * @param {number} [options.maxEntries=2**28]  limit on the entries of any one tensor
 * @param {number} [options.maxTotalEntries=2**30]  limit on the entries of all tensors
 * @returns {Promise<{tensors: object[], byName: Object<string, object>, metadata: object, stats: object}>}
 */
export async function decodeGPU(buffer, options = {}) {
  const opts = checkOptions(options);
  if (opts.dequantize && !opts.readback) throw new AnspackError('BadArgument', 'dequantize needs readback (it runs on the CPU)');
  const hdr = parseHeader(buffer, { maxEntries: opts.maxEntries, verify: opts.verify });
  let total = 0;
  for (const t of hdr.tensors) total += t.n;
  if (total > opts.maxTotalEntries) {
    throw new AnspackError('LimitExceeded', `the file's tensors hold ${total} entries in all, above the limit maxTotalEntries = ${opts.maxTotalEntries}`, { offset: 40 });
  }
  const device = options.device ?? await requestDevice();
  const stats = { gpuTensors: 0, cpuTensors: 0, dispatches: 0, submits: 0, strategies: {} };
  const tensors = [];
  // Tensors go to the GPU in batches of consecutive tensors (one command buffer, one submit, the
  // readbacks awaited together); results and errors are then taken in table order, so the first
  // bad tensor in the file is reported, as decode() does.
  let i = 0;
  while (i < hdr.tensors.length) {
    const batch = [];
    let bytes = 0;
    const enc = device.createCommandEncoder({ label: 'anspack decodeGPU' });
    try {
      while (i < hdr.tensors.length && (batch.length === 0 || bytes < opts.batchBytes)) {
        const t = hdr.tensors[i++];
        if (t.coding === 'rans' && t.n > 0) {
          const job = startRansGPU(device, await pipelines(device), hdr, t, opts, stats, enc);
          bytes += job.gpuBytes;
          batch.push(job);
        } else {
          batch.push({ cpu: t });
        }
      }
      if (batch.some((job) => job.staging)) {
        device.queue.submit([enc.finish()]);
        stats.submits += 1;
        for (const job of batch) {
          if (!job.staging) continue;
          job.mapped = job.staging.mapAsync(GPUMapMode.READ);
          job.mapped.catch(() => {}); // a later job's map is aborted if an earlier tensor throws
        }
      }
      for (const job of batch) {
        if (job.cpu) {
          tensors.push(decodeOnCPU(device, hdr, job.cpu, opts));
          stats.cpuTensors++;
        } else {
          tensors.push(await finishRansGPU(hdr, job, opts));
          stats.gpuTensors++;
        }
      }
    } finally {
      for (const job of batch) releaseJob(job);
    }
  }
  const byName = Object.create(null);
  for (const t of tensors) byName[t.name] = t;
  return { tensors, byName, metadata: hdr.metadata, stats };
}

/** Raw and empty tensors: decodeTensor (the CPU decoder), uploaded with keepBuffers. */
function decodeOnCPU(device, hdr, t, opts) {
  const cpu = decodeTensor(hdr.bytes, t.name, { verify: opts.verify, dequantize: opts.dequantize, maxEntries: opts.maxEntries });
  cpu.decodedOn = 'cpu';
  if (opts.keepBuffers) {
    const bytes = new Uint8Array(cpu.data.buffer, cpu.data.byteOffset, cpu.data.byteLength);
    const b = device.createBuffer({ size: pad4(bytes.length), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: t.name });
    const padded = new Uint8Array(pad4(bytes.length));
    padded.set(bytes);
    device.queue.writeBuffer(b, 0, padded);
    cpu.buffer = b;
  }
  if (!opts.readback) delete cpu.data;
  return cpu;
}

function releaseJob(job) {
  if (!job.made) return;
  for (const b of job.made) b.destroy();
  if (job.outValBuf && !job.kept) job.outValBuf.destroy();
  job.made = null;
}

/** The 2^P-slot table (symbol id, f << 16 | bias) followed by the values' zero-extended bit patterns. */
function buildModel(bytes, t) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const V = t.vocabSize, M = 2 ** t.precision;
  const model = new Uint32Array(2 * M + V);
  for (let s = 0; s < V; s++) {
    const c = dv.getUint16(t.cdfOffset + 2 * s, true);
    const f = dv.getUint16(t.cdfOffset + 2 * s + 2, true) - c;
    for (let slot = c; slot < c + f; slot++) {
      model[2 * slot] = s;
      model[2 * slot + 1] = ((f << 16) | (slot - c)) >>> 0;
    }
  }
  const size = t.itemSize;
  for (let s = 0; s < V; s++) {
    const o = t.valuesOffset + size * s;
    model[2 * M + s] = size === 1 ? bytes[o] : size === 2 ? dv.getUint16(o, true) : dv.getUint32(o, true);
  }
  return model;
}

/**
 * Upload one rANS tensor and record its decode into `enc` (nothing is submitted). Errors that
 * decode() would raise before decoding (block checksum, size limits) are kept in the job and thrown
 * by finishRansGPU in table order.
 */
function startRansGPU(device, pl, hdr, t, opts, stats, enc) {
  const { bytes } = hdr;
  const job = { t, gpuBytes: 0, made: [], staging: null, error: null };
  if (opts.verify) {
    const h = blockChecksum(bytes, t);
    if (h !== t.blockChecksum) {
      job.error = new AnspackError('ChecksumMismatch', `block_checksum: the model and dequant bytes hash to 0x${h.toString(16)}, the table says 0x${t.blockChecksum.toString(16)}`, { offset: t.entryOffset + BLOCK_CHECKSUM_AT, tensor: t.name });
      return job;
    }
  }
  const n = t.n, L = t.lanes, W = t.words, V = t.vocabSize, P = t.precision, M = 2 ** P;
  const lim = device.limits;
  const maxBinding = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  if (4 * n > maxBinding || 4 * (2 + 2 * Math.ceil(L / WG) + L) > maxBinding) {
    job.error = new AnspackError('LimitExceeded', `${n} entries (${4 * n} bytes of ids on the GPU) exceed the device's storage buffer limit of ${maxBinding} bytes`, { offset: t.entryOffset + 48, tensor: t.name });
    return job;
  }
  let strategy = opts.strategy === 'auto' ? (L >= ROWS_MIN_LANES ? 'rows' : 'single') : opts.strategy;
  const G = Math.ceil(L / WG);
  if (strategy === 'rows' && G > MAX_WORKGROUPS_PER_DIM) strategy = 'single';
  stats.strategies[t.name] = strategy;
  const rows = Math.ceil(n / L);
  const idBytes = V <= 256 ? 1 : 2;
  const valBytes = t.itemSize;
  const idWords = Math.ceil(n * idBytes / 4);
  const valWords = Math.ceil(n * valBytes / 4);
  const packWords = Math.max(idWords, valWords);
  const packGroups = Math.ceil(packWords / WG);
  const nwgX = Math.min(packGroups, MAX_WORKGROUPS_PER_DIM);
  const nwgY = Math.ceil(packGroups / nwgX);
  const pendOff = 2 + 2 * G;
  const made = job.made;
  const U = GPUBufferUsage;

  const params = new Uint32Array([
    n, L, W, P, rows, Math.ceil(L / WG), G, M,
    2 * M, idBytes, valBytes, nwgX, idWords, valWords, pendOff, 0,
  ]);
  const paramBuf = createBuffer(device, params.byteLength, U.UNIFORM | U.COPY_DST, 'params', made);
  device.queue.writeBuffer(paramBuf, 0, params);
  const model = buildModel(bytes, t);
  const modelBuf = createBuffer(device, model.byteLength, U.STORAGE | U.COPY_DST, 'model', made);
  device.queue.writeBuffer(modelBuf, 0, model);
  const wordBytes = new Uint8Array(pad4(2 * W));
  wordBytes.set(bytes.subarray(t.wordsOffset, t.wordsOffset + 2 * W));
  const wordBuf = createBuffer(device, wordBytes.byteLength, U.STORAGE | U.COPY_DST, 'words', made);
  device.queue.writeBuffer(wordBuf, 0, wordBytes);
  const stateBytes = bytes.slice(t.statesOffset, t.statesOffset + 4 * L);
  const stateBuf = createBuffer(device, 4 * L, U.STORAGE | U.COPY_DST | U.COPY_SRC, 'states', made);
  device.queue.writeBuffer(stateBuf, 0, stateBytes);
  const idBuf = createBuffer(device, 4 * n, U.STORAGE, 'ids', made);
  const ctlSize = 4 * (pendOff + (strategy === 'rows' ? L : 0));
  const ctlBuf = createBuffer(device, ctlSize, U.STORAGE | U.COPY_SRC, 'ctl', made);
  const outIdBuf = createBuffer(device, 4 * idWords, U.STORAGE | U.COPY_SRC, 'outIds', made);
  const outValBuf = device.createBuffer({ size: pad4(4 * valWords), usage: U.STORAGE | U.COPY_SRC, label: t.name });
  job.outValBuf = outValBuf;

  const bind = device.createBindGroup({
    layout: pl.layout,
    entries: [paramBuf, modelBuf, wordBuf, stateBuf, idBuf, ctlBuf, outIdBuf, outValBuf].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const pass = enc.beginComputePass({ label: t.name });
  pass.setBindGroup(0, bind);
  if (strategy === 'single') {
    pass.setPipeline(pl.decodeSingle);
    pass.dispatchWorkgroups(1);
    stats.dispatches += 1;
  } else {
    for (let r = 0; r < rows; r++) {
      pass.setPipeline(pl.rowStep);
      pass.dispatchWorkgroups(G);
      pass.setPipeline(pl.rowScan);
      pass.dispatchWorkgroups(1);
    }
    pass.setPipeline(pl.rowStep); // the last row's refills
    pass.dispatchWorkgroups(G);
    stats.dispatches += 2 * rows + 1;
  }
  pass.setPipeline(pl.pack);
  pass.dispatchWorkgroups(nwgX, nwgY);
  stats.dispatches += 1;
  pass.end();

  // Read back: words consumed, final states, packed ids (checksum), packed values.
  const hashIds = opts.verify || opts.readback; // the checksum, as decode() returns it
  const idsRead = hashIds ? 4 * idWords : 0;
  const valsRead = opts.readback ? 4 * valWords : 0;
  const stagingSize = 4 + 4 * L + idsRead + valsRead;
  const staging = createBuffer(device, stagingSize, U.MAP_READ | U.COPY_DST, 'staging', made);
  enc.copyBufferToBuffer(ctlBuf, 0, staging, 0, 4);
  enc.copyBufferToBuffer(stateBuf, 0, staging, 4, 4 * L);
  if (idsRead) enc.copyBufferToBuffer(outIdBuf, 0, staging, 4 + 4 * L, idsRead);
  if (valsRead) enc.copyBufferToBuffer(outValBuf, 0, staging, 4 + 4 * L + idsRead, valsRead);
  Object.assign(job, { staging, strategy, idBytes, valBytes, idsRead, hashIds });
  for (const b of made) job.gpuBytes += b.size;
  job.gpuBytes += outValBuf.size;
  return job;
}

/** Await a job's readback and check it as decode() does: word count, final states, ids checksum. */
async function finishRansGPU(hdr, job, opts) {
  const { t } = job;
  if (job.error) throw job.error;
  const { bytes } = hdr;
  const n = t.n, L = t.lanes, W = t.words;
  const where = { tensor: t.name };
  await job.mapped;
  const got = new Uint8Array(job.staging.getMappedRange().slice(0));
  job.staging.unmap();

  const u32 = new Uint32Array(got.buffer, 0, 1 + L);
  const k = u32[0];
  if (k > W) throw new AnspackError('CorruptStream', `word stream under-run: the entries need more than the W = ${W} words stored`, { ...where, offset: t.wordsOffset + 2 * W });
  if (k < W) throw new AnspackError('CorruptStream', `words left over: ${k} of W = ${W} words read after the last entry`, { ...where, offset: t.wordsOffset + 2 * k });
  for (let j = 0; j < L; j++) {
    if (u32[1 + j] !== STATE_LOW) throw new AnspackError('CorruptStream', `lane ${j} ends in a state other than 2^16 = ${STATE_LOW}`, { ...where, offset: t.statesOffset + 4 * j });
  }
  let checksum = null;
  if (job.hashIds) {
    const Ids = job.idBytes === 1 ? Uint8Array : Uint16Array;
    checksum = fxhash26Typed(new Ids(got.buffer, 4 + 4 * L, n));
    if (opts.verify && checksum !== t.checksum) {
      throw new AnspackError('ChecksumMismatch', `decoded data hashes to 0x${checksum.toString(16)}, the table says 0x${t.checksum.toString(16)}`, { offset: t.entryOffset + 32, tensor: t.name });
    }
  }
  const tensor = { name: t.name, shape: t.shape.slice(), dtype: t.dtype, checksum, decodedOn: 'gpu', strategy: job.strategy };
  if (opts.readback) {
    const Ctor = GPU_ARRAY_TYPES[t.dtype];
    const at = 4 + 4 * L + job.idsRead;
    tensor.data = new Ctor(got.buffer.slice(at, at + n * job.valBytes));
    if (opts.dequantize && t.dequantSize > 0) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      tensor.data = dequantizeBlock(dv, t.dequantOffset, t.dequantSize, tensor.data, { name: t.name, shape: t.shape.slice(), dtype: t.dtype });
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
