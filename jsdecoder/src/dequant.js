// Dequantization descriptors (spec/FORMAT.md section 12): integers -> Float32Array.
// Placeholder until the quantization front-end defines the kinds.
import { AnspackError } from './errors.js';

/**
 * @param {DataView} view  DataView over the whole file
 * @param {number} offset  file offset of the dequant block
 * @param {number} size    size of the dequant block in bytes
 * @param {ArrayLike<number>} values  the decoded integers (or raw values) of the tensor
 * @param {{name: string, shape: number[], dtype: string}} tensor
 * @returns {Float32Array}
 */
export function dequantizeBlock(view, offset, size, values, tensor) {
  const kind = view.getUint32(offset, true);
  throw new AnspackError('UnsupportedDequant', `dequant kind ${kind} is not defined`, { offset, tensor: tensor.name });
}
