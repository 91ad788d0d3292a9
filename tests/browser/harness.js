// Test-page helpers for the Python (playwright) tests: import the decoder and expose small,
// JSON-friendly functions on window. Documented in tests/conftest.py.

const BITS = { 1: Uint8Array, 2: Uint16Array, 4: Uint32Array };

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-256 (hex) of a typed array's bytes or an ArrayBuffer. */
async function sha256Hex(data) {
  const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

async function fetchBytes(url, init) {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** A tensor summary Python can compare: everything but the data, which is hashed and sampled. */
async function summarize(t, spots) {
  return {
    name: t.name,
    shape: t.shape,
    dtype: t.dtype,
    storedDtype: t.storedDtype ?? t.dtype,
    checksum: t.checksum,
    n: t.data.length,
    arrayType: t.data.constructor.name,
    byteLength: t.data.byteLength,
    sha256: await sha256Hex(t.data),
    spots: (spots ?? []).map((i) => (i < t.data.length ? t.data[i] : null)),
  };
}

function errorInfo(e) {
  return {
    isAnspackError: e instanceof window.anspack.AnspackError,
    name: e?.name ?? null,
    code: e?.code ?? null,
    message: String(e?.message ?? e),
    offset: e?.offset ?? null,
    tensor: e?.tensor ?? null,
  };
}

async function decodeUrl(url, options = {}, spots = null) {
  const bytes = await fetchBytes(url);
  const { tensors, metadata } = window.anspack.decode(bytes, options);
  const out = [];
  for (const t of tensors) out.push(await summarize(t, Array.isArray(spots) ? spots : spots?.[t.name]));
  return { metadata, tensors: out };
}

async function decodeUrlError(url, options = {}) {
  const bytes = await fetchBytes(url);
  try {
    window.anspack.decode(bytes, options);
    return null;
  } catch (e) {
    return errorInfo(e);
  }
}

/** Many files concatenated in one blob (sizes in order): the decode error (or null) of each. */
async function decodeErrorsInBlob(url, sizes, options = {}) {
  const blob = await fetchBytes(url);
  const out = [];
  let p = 0;
  for (const size of sizes) {
    const file = blob.slice(p, p + size);
    p += size;
    try {
      window.anspack.decode(file, options);
      out.push(null);
    } catch (e) {
      out.push(errorInfo(e));
    }
  }
  if (p !== blob.length) throw new Error(`sizes add up to ${p}, the blob has ${blob.length} bytes`);
  return out;
}

async function readHeaderUrl(url, options = {}) {
  return window.anspack.readHeader(await fetchBytes(url), options);
}

try {
  window.anspack = await import('/jsdecoder/src/index.js');
  Object.assign(window, { sha256Hex, fetchBytes, decodeUrl, decodeUrlError, decodeErrorsInBlob, readHeaderUrl, summarize, errorInfo, BITS });
  window.anspackReady = true;
} catch (e) {
  window.anspackLoadError = String(e?.stack ?? e);
}
