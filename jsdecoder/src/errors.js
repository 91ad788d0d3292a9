// Errors thrown by the anspack decoders. Every malformed input raises an AnspackError whose
// `code` is one of the names in spec/FORMAT.md section 14.

/** Names of the error codes, as in spec/FORMAT.md section 14. */
export const ErrorCodes = Object.freeze([
  'BadMagic', 'UnsupportedVersion', 'ReservedNonZero', 'Truncated', 'SizeMismatch', 'BadTable',
  'BadMetadata', 'BadLayout', 'BadModel', 'CorruptStream', 'ChecksumMismatch', 'LimitExceeded',
  'UnsupportedDequant', 'BadDequant', 'BadArgument',
]);

/**
 * A malformed or unsupported anspack file (or a bad argument).
 * `code` names the failure, `offset` the byte offset in the file (or null),
 * `tensor` the tensor's name (or null).
 */
export class AnspackError extends Error {
  constructor(code, message, { offset = null, tensor = null } = {}) {
    const where = [];
    if (tensor !== null) where.push(`tensor ${JSON.stringify(tensor)}`);
    if (offset !== null) where.push(`byte offset ${offset}`);
    super(`${code}: ${message}${where.length ? ` (${where.join(', ')})` : ''}`);
    this.name = 'AnspackError';
    this.code = code;
    this.offset = offset;
    this.tensor = tensor;
  }
}

/**
 * The same error with `prefix` put before its message (e.g. "group 3: " for a row group's sub-block,
 * spec section 7.4); code, offset and tensor unchanged. Anything but an AnspackError is returned as is.
 */
export function withPrefix(e, prefix) {
  if (!(e instanceof AnspackError)) return e;
  let msg = e.message;
  if (msg.startsWith(`${e.code}: `)) msg = msg.slice(e.code.length + 2);
  const where = [];
  if (e.tensor !== null) where.push(`tensor ${JSON.stringify(e.tensor)}`);
  if (e.offset !== null) where.push(`byte offset ${e.offset}`);
  const suffix = where.length ? ` (${where.join(', ')})` : '';
  if (suffix && msg.endsWith(suffix)) msg = msg.slice(0, msg.length - suffix.length);
  return new AnspackError(e.code, `${prefix}${msg}`, { offset: e.offset, tensor: e.tensor });
}
