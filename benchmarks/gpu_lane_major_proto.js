// PROTOTYPE (not part of the format): GPU decoding of lane-grouped word layouts, the spec extension
// proposed in issue 10's report. Driven by benchmarks/gpu_lane_major_proto.py, which transcodes
// anspack v1 tensors into this layout (a .bin blob, below) and checks the ids against the file's.
//
// Lane groups of g lanes: group b = lanes [b*g, (b+1)*g). Group b's words are contiguous, starting at
// start[b] = count[0] + ... + count[b-1], and inside a group they are in v1 order restricted to the
// group's lanes (row by row, lane by lane). g = L is v1 itself; g = 1 is "lane-major" (each lane its
// own stream). Every group decodes independently, so ONE dispatch decodes everything:
// - g = 1 (decodeLanes): one invocation per lane, its own cursor, no prefix sum, no barrier;
// - g = 256 (decodeGroups): one workgroup per group, one invocation per lane, a workgroup prefix sum
//   of the refill flags per row (as gpu.js's 'single' schedule) but no device-wide step at all.
// (v1's single shared stream needs a prefix sum over ALL L lanes after every row of L entries.)
//
// Blob: u32 n, L, W, P, V, g, then u32 states[L], u32 counts[ceil(L/g)], u32 cdf[V+1], u16 words[W].

import { fxhash26Typed } from '../jsdecoder/src/fxhash.js';

const WGSL = /* wgsl */ `
struct Params { n: u32, L: u32, W: u32, P: u32, M: u32, nwgX: u32, g: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> model: array<u32>;      // 2 per slot: id, f << 16 | bias
@group(0) @binding(2) var<storage, read> words: array<u32>;      // u16 pairs
@group(0) @binding(3) var<storage, read> lanes: array<u32>;      // state[L], start[B], count[B] (B groups)
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;
@group(0) @binding(5) var<storage, read_write> err: array<atomic<u32>>;  // [0] first bad lane

const LOW: u32 = 65536u;

fn word(k: u32) -> u32 { return (words[k >> 1u] >> ((k & 1u) << 4u)) & 0xFFFFu; }

@compute @workgroup_size(256)
fn decodeLanes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let j = (wg.y * prm.nwgX + wg.x) * 256u + t;
  let L = prm.L;
  if (j >= L) { return; }
  var x = lanes[j];
  var k = lanes[L + j];
  let end = k + lanes[2u * L + j];
  for (var i = j; i < prm.n; i = i + L) {
    let slot = x & (prm.M - 1u);
    let fb = model[2u * slot + 1u];
    ids[i] = model[2u * slot];
    x = (fb >> 16u) * (x >> prm.P) + (fb & 0xFFFFu);
    if (x < LOW) {
      if (k >= end) { atomicMin(&err[0], j); return; }  // this lane's words under-run
      x = (x << 16u) | word(k);
      k = k + 1u;
    }
  }
  if (k != end || x != LOW) { atomicMin(&err[0], j); }   // words left over / wrong final state
}

var<workgroup> scan: array<u32, 256>;

// g = 256: workgroup b decodes lane group b (lanes 256b .. 256b+255), rows in a loop.
@compute @workgroup_size(256)
fn decodeGroups(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let b = wg.y * prm.nwgX + wg.x;
  let L = prm.L;
  let B = (L + 255u) / 256u;
  let j = b * 256u + t;
  let live = j < L;
  var x = LOW;
  if (live) { x = lanes[j]; }
  let start = lanes[L + b];
  let end = start + lanes[L + B + b];
  let rows = (prm.n + L - 1u) / L;
  var base = start;
  var bad = false;
  for (var r = 0u; r < rows; r = r + 1u) {
    let i = r * L + j;
    var flag = 0u;
    if (live && i < prm.n) {
      let slot = x & (prm.M - 1u);
      let fb = model[2u * slot + 1u];
      ids[i] = model[2u * slot];
      x = (fb >> 16u) * (x >> prm.P) + (fb & 0xFFFFu);
      flag = select(0u, 1u, x < LOW);
    }
    scan[t] = flag;
    workgroupBarrier();
    for (var off = 1u; off < 256u; off = off << 1u) {
      var a = 0u;
      if (t >= off) { a = scan[t - off]; }
      workgroupBarrier();
      scan[t] = scan[t] + a;
      workgroupBarrier();
    }
    if (flag == 1u) {
      let k = base + scan[t] - 1u;
      if (k >= end) { bad = true; } else { x = (x << 16u) | word(k); }
    }
    base = base + workgroupUniformLoad(&scan[255]);
    workgroupBarrier();
  }
  if (live && (bad || x != LOW)) { atomicMin(&err[0], j); }
  if (t == 0u && base != end) { atomicMin(&err[0], b * 256u); }
}
`;

/** Decode one blob on `device`; returns {ok, badLane, checksum, dispatches, barriersPerInvocation, groups, ms}. */
export async function runProto(device, blob) {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const [n, L, W, P, V, g] = [0, 1, 2, 3, 4, 5].map((q) => dv.getUint32(4 * q, true));
  if (g !== 1 && g !== 256) throw new Error(`prototype supports groups of 1 or 256 lanes, not ${g}`);
  const B = Math.ceil(L / g);
  let o = 24;
  const u32 = (count) => { const a = new Uint32Array(count); for (let q = 0; q < count; q++) a[q] = dv.getUint32(o + 4 * q, true); o += 4 * count; return a; };
  const states = u32(L), counts = u32(B), cdf = u32(V + 1);
  const words = new Uint8Array(Math.max(4, Math.ceil(W / 2) * 4));
  words.set(blob.subarray(o, o + 2 * W));
  const M = 2 ** P;
  const model = new Uint32Array(2 * M);
  for (let s = 0; s < V; s++) {
    for (let slot = cdf[s]; slot < cdf[s + 1]; slot++) { model[2 * slot] = s; model[2 * slot + 1] = ((cdf[s + 1] - cdf[s]) << 16 | (slot - cdf[s])) >>> 0; }
  }
  const laneArr = new Uint32Array(L + 2 * B);
  laneArr.set(states);
  let start = 0;
  for (let b = 0; b < B; b++) { laneArr[L + b] = start; laneArr[L + B + b] = counts[b]; start += counts[b]; }
  const groups = Math.ceil(L / 256);
  const nwgX = Math.min(groups, 65535);
  const nwgY = Math.ceil(groups / nwgX);

  const U = GPUBufferUsage;
  const made = [];
  const buf = (data, usage) => { const b = device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 4) * 4), usage: usage | U.COPY_DST }); device.queue.writeBuffer(b, 0, data); made.push(b); return b; };
  const t0 = performance.now();
  const params = buf(new Uint32Array([n, L, W, P, M, nwgX, g, 0]), U.UNIFORM);
  const modelB = buf(model, U.STORAGE), wordsB = buf(words, U.STORAGE), lanesB = buf(laneArr, U.STORAGE);
  const idsB = device.createBuffer({ size: 4 * n, usage: U.STORAGE | U.COPY_SRC }); made.push(idsB);
  const errB = buf(new Uint32Array([0xffffffff]), U.STORAGE | U.COPY_SRC);
  const read = device.createBuffer({ size: 4 * n + 4, usage: U.MAP_READ | U.COPY_DST }); made.push(read);
  const module = device.createShaderModule({ code: WGSL });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: g === 1 ? 'decodeLanes' : 'decodeGroups' } });
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [params, modelB, wordsB, lanesB, idsB, errB].map((buffer, binding) => ({ binding, resource: { buffer } })) });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(nwgX, nwgY);
  pass.end();
  enc.copyBufferToBuffer(idsB, 0, read, 0, 4 * n);
  enc.copyBufferToBuffer(errB, 0, read, 4 * n, 4);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const got = new Uint32Array(read.getMappedRange().slice(0));
  read.unmap();
  const ms = performance.now() - t0;
  for (const b of made) b.destroy();
  const badLane = got[n];
  const checksum = fxhash26Typed(got.subarray(0, n));
  const rows = Math.ceil(n / L);
  return { ok: badLane === 0xffffffff && start === W, badLane: badLane === 0xffffffff ? null : badLane, checksum, dispatches: 1, barriersPerInvocation: g === 1 ? 0 : rows * 19, groups: B, ms };
}
