// Dequantization descriptors (spec/FORMAT.md section 12.1): decoded values -> Float32Array.
//
// Kinds: 1 AFFINE   v = f32(f32(f32(q) - zero[c]) * scale[c])
//        2 LUT      v = table[q - base]
//        3 SCALED_LUT v = f32(table[q - base] * scale[c])
//        4 TRELLIS  v = f32(f32(r) * step), r = 2q or 2q - sign(q) by a 4-state machine on parities
// Each step is one binary32 operation (Math.fround after every op), which gives the same bits as
// numpy's float32 arithmetic in the Python decoder.
import { AnspackError } from './errors.js';

const KIND_AFFINE = 1;
const KIND_LUT = 2;
const KIND_SCALED_LUT = 3;
const KIND_TRELLIS = 4;
const TRELLIS_NEXT = [0, 2, 2, 0, 1, 3, 3, 1]; // NEXT[s][parity] at 2 * s + parity
const PER_TENSOR = 0xFFFFFFFF;
const INT_DTYPES = new Set(['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32']);
const fround = Math.fround;

function bad(message, offset, tensor) {
  return new AnspackError('BadDequant', message, { offset, tensor: tensor.name });
}

/** IEEE binary16 bits -> number (exact). */
function halfToNumber(h) {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

/** Read `count` little-endian f32 values, each required to be finite. */
function readFloats(view, at, count, what, tensor) {
  const out = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    const x = view.getFloat32(at + 4 * k, true);
    if (!Number.isFinite(x)) throw bad(`${what}[${k}] is ${x}, not a finite float32`, at + 4 * k, tensor);
    out[k] = x;
  }
  return out;
}

/** Slice index helper: returns [axis or null, stride] after validating axis/count against the shape. */
function checkAxis(axisField, count, tensor, at) {
  const shape = tensor.shape;
  if (axisField === PER_TENSOR) {
    if (count !== 1) throw bad(`per-tensor descriptor has count ${count}, expected 1`, at + 4, tensor);
    return { axis: null, stride: 1 };
  }
  if (axisField >= shape.length) {
    throw bad(`axis is ${axisField}, but the tensor has ${shape.length} dimensions`, at, tensor);
  }
  if (count !== Number(shape[axisField])) {
    throw bad(`count is ${count}, expected shape[${axisField}] = ${shape[axisField]}`, at + 4, tensor);
  }
  let stride = 1;
  for (let d = axisField + 1; d < shape.length; d++) stride *= Number(shape[d]);
  return { axis: axisField, stride };
}

/** Entry values as numbers (float16 entries arrive as their bit patterns in a Uint16Array). */
function numbers(values, tensor) {
  if (tensor.dtype === 'float16') {
    const out = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = halfToNumber(values[i]);
    return out;
  }
  return values;
}

/** Table indices q - base, each checked to lie in [0, tcount). */
function checkIndices(values, base, tcount, tensor, offset) {
  if (!INT_DTYPES.has(tensor.dtype)) {
    throw bad(`lookup-table kinds need an integer tensor, this one is ${tensor.dtype}`, offset, tensor);
  }
  const n = values.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (n > 0 && (lo - base < 0 || hi - base >= tcount)) {
    const v = lo - base < 0 ? lo : hi;
    throw bad(`value ${v} is outside the table [${base}, ${base + tcount})`, offset, tensor);
  }
}

/**
 * @param {DataView} view  DataView over the whole file
 * @param {number} offset  file offset of the dequant block
 * @param {number} size    size of the dequant block in bytes
 * @param {ArrayLike<number>} values  the decoded integers (or raw values) of the tensor
 * @param {{name: string, shape: number[], dtype: string}} tensor
 * @returns {Float32Array}
 */
export function dequantizeBlock(view, offset, size, values, tensor) {
  if (size < 16 || offset + size > view.byteLength) {
    throw bad(`dequant block of ${size} bytes does not fit`, offset, tensor);
  }
  const kind = view.getUint32(offset, true);
  const reserved = view.getUint32(offset + 4, true);
  const bodySize = Number(view.getBigUint64(offset + 8, true));
  if (bodySize !== size - 16) throw bad(`body_size is ${bodySize}, the block holds ${size - 16}`, offset + 8, tensor);
  if (reserved !== 0) {
    throw new AnspackError('ReservedNonZero', `dequant header reserved field is ${reserved}`, { offset: offset + 4, tensor: tensor.name });
  }
  const body = offset + 16;
  const n = values.length;
  const need = (want, kindName) => {
    if (bodySize !== want) throw bad(`${kindName} body is ${bodySize} bytes, expected ${want}`, offset + 8, tensor);
  };

  if (kind === KIND_AFFINE) {
    if (bodySize < 8) throw bad(`affine body is ${bodySize} bytes, shorter than 8`, offset + 8, tensor);
    const axisField = view.getUint32(body, true);
    const count = view.getUint32(body + 4, true);
    need(8 + 8 * count, 'affine');
    const { axis, stride } = checkAxis(axisField, count, tensor, body);
    const scale = readFloats(view, body + 8, count, 'scale', tensor);
    const zero = readFloats(view, body + 8 + 4 * count, count, 'zero', tensor);
    const q = numbers(values, tensor);
    const out = new Float32Array(n);
    if (axis === null) {
      const s = scale[0];
      const z = zero[0];
      for (let i = 0; i < n; i++) out[i] = fround(fround(fround(q[i]) - z) * s);
    } else {
      for (let i = 0, c = 0, k = 0; i < n; i++) {
        out[i] = fround(fround(fround(q[i]) - zero[c]) * scale[c]);
        if (++k === stride) { k = 0; if (++c === count) c = 0; }
      }
    }
    return out;
  }

  if (kind === KIND_LUT) {
    if (bodySize < 8) throw bad(`lut body is ${bodySize} bytes, shorter than 8`, offset + 8, tensor);
    const base = view.getInt32(body, true);
    const count = view.getUint32(body + 4, true);
    if (count < 1) throw bad('lut table has no entries', body + 4, tensor);
    need(8 + 4 * count, 'lut');
    const table = readFloats(view, body + 8, count, 'table', tensor);
    checkIndices(values, base, count, tensor, offset);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = table[values[i] - base];
    return out;
  }

  if (kind === KIND_SCALED_LUT) {
    if (bodySize < 16) throw bad(`scaled_lut body is ${bodySize} bytes, shorter than 16`, offset + 8, tensor);
    const axisField = view.getUint32(body, true);
    const count = view.getUint32(body + 4, true);
    const base = view.getInt32(body + 8, true);
    const tcount = view.getUint32(body + 12, true);
    if (tcount < 1) throw bad('scaled_lut table has no entries', body + 12, tensor);
    need(16 + 4 * count + 4 * tcount, 'scaled_lut');
    const { axis, stride } = checkAxis(axisField, count, tensor, body);
    const scale = readFloats(view, body + 16, count, 'scale', tensor);
    const table = readFloats(view, body + 16 + 4 * count, tcount, 'table', tensor);
    checkIndices(values, base, tcount, tensor, offset);
    const out = new Float32Array(n);
    if (axis === null) {
      const s = scale[0];
      for (let i = 0; i < n; i++) out[i] = fround(table[values[i] - base] * s);
    } else {
      for (let i = 0, c = 0, k = 0; i < n; i++) {
        out[i] = fround(table[values[i] - base] * scale[c]);
        if (++k === stride) { k = 0; if (++c === count) c = 0; }
      }
    }
    return out;
  }

  if (kind === KIND_TRELLIS) {
    need(8, 'trellis');
    const step = readFloats(view, body, 1, 'step', tensor)[0];
    const reserved2 = view.getUint32(body + 4, true);
    if (reserved2 !== 0) throw bad(`trellis reserved field is ${reserved2}, expected 0`, body + 4, tensor);
    if (!INT_DTYPES.has(tensor.dtype)) {
      throw bad(`trellis needs an integer tensor, this one is ${tensor.dtype}`, offset, tensor);
    }
    const out = new Float32Array(n);
    let s = 0;
    for (let i = 0; i < n; i++) {
      const k = values[i];
      const r = s < 2 ? 2 * k : (k > 0 ? 2 * k - 1 : (k < 0 ? 2 * k + 1 : 0));
      out[i] = fround(fround(r) * step);
      s = TRELLIS_NEXT[2 * s + (k & 1)];
    }
    return out;
  }

  throw new AnspackError('UnsupportedDequant', `dequant kind ${kind} is not defined (known: 1 affine, 2 lut, 3 scaled_lut, 4 trellis)`, { offset, tensor: tensor.name });
}
