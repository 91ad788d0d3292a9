// Helpers for tests/test_browser_gpu.py and benchmarks/gpu_bench.py: compare the WebGPU decoder
// (jsdecoder/src/gpu.js) with the CPU decoder on files served over HTTP.

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(data) {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

let devicePromise = null;

/** {ok, adapter info} or {ok: false, why}: is WebGPU usable in this browser? */
async function gpuProbe() {
  if (!navigator.gpu) return { ok: false, why: 'navigator.gpu is undefined' };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { ok: false, why: 'navigator.gpu.requestAdapter() returned null' };
  const info = adapter.info ?? {};
  return { ok: true, vendor: info.vendor ?? '', architecture: info.architecture ?? '', description: info.description ?? '' };
}

async function device() {
  if (devicePromise === null) devicePromise = window.anspack.requestGPUDevice();
  return devicePromise;
}

async function summarize(t) {
  return {
    name: t.name, shape: t.shape, dtype: t.dtype, checksum: t.checksum, decodedOn: t.decodedOn ?? 'cpu',
    strategy: t.strategy ?? null, arrayType: t.data.constructor.name, n: t.data.length,
    sha256: await sha256Hex(t.data),
  };
}

function errorInfo(e) {
  return { isAnspackError: e instanceof window.anspack.AnspackError, code: e?.code ?? null, message: String(e?.message ?? e), offset: e?.offset ?? null, tensor: e?.tensor ?? null };
}

/** Decode a file with decode() and decodeGPU(); returns both summaries (or errors) and the GPU stats. */
async function compareUrl(url, options = {}) {
  const bytes = await fetchBytes(url);
  const out = { cpu: null, gpu: null, cpuError: null, gpuError: null, stats: null };
  try {
    const r = window.anspack.decode(bytes, options);
    out.cpu = await Promise.all(r.tensors.map(summarize));
  } catch (e) {
    out.cpuError = errorInfo(e);
  }
  try {
    const r = await window.anspack.decodeGPU(bytes, { ...options, device: await device() });
    out.gpu = await Promise.all(r.tensors.map(summarize));
    out.stats = r.stats;
  } catch (e) {
    out.gpuError = errorInfo(e);
  }
  return out;
}

/** keepBuffers: read each returned GPUBuffer back and hash its first byteLength bytes. */
async function gpuBufferHashes(url, options = {}) {
  const bytes = await fetchBytes(url);
  const dev = await device();
  const r = await window.anspack.decodeGPU(bytes, { ...options, device: dev, keepBuffers: true });
  const out = {};
  for (const t of r.tensors) {
    const size = t.buffer.size;
    const staging = dev.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(t.buffer, 0, staging, 0, size);
    dev.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const got = new Uint8Array(staging.getMappedRange().slice(0, t.data.byteLength));
    staging.unmap();
    staging.destroy();
    t.buffer.destroy();
    out[t.name] = { buffer: await sha256Hex(got), data: await sha256Hex(t.data), bufferSize: size };
  }
  return out;
}

/** Time decode() and decodeGPU() on one file (for benchmarks/gpu_bench.py): median of `repeat` runs. */
async function timeUrl(url, repeat = 3, options = {}) {
  const bytes = await fetchBytes(url);
  const dev = await device();
  const med = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
  await window.anspack.decodeGPU(bytes, { ...options, device: dev }); // warm-up (pipelines)
  const cpu = [], gpu = [];
  let stats = null;
  for (let i = 0; i < repeat; i++) {
    let t0 = performance.now();
    window.anspack.decode(bytes);
    cpu.push(performance.now() - t0);
    t0 = performance.now();
    const r = await window.anspack.decodeGPU(bytes, { ...options, device: dev });
    gpu.push(performance.now() - t0);
    stats = r.stats;
  }
  return { cpuMs: med(cpu), gpuMs: med(gpu), stats };
}

try {
  const m = await import('/jsdecoder/src/index.js');
  const g = await import('/jsdecoder/src/gpu.js');
  window.anspack = { ...m, requestGPUDevice: g.requestDevice };
  Object.assign(window, { gpuProbe, compareUrl, gpuBufferHashes, timeUrl, fetchBytes, sha256Hex });
  window.anspackReady = true;
} catch (e) {
  window.anspackLoadError = String(e?.stack ?? e);
}
