// Comparing decode results in the node tests.
import assert from 'node:assert/strict';

/** A tensor's data as a Buffer of its bytes. */
export const bytesOf = (t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/**
 * `got` holds the same tensors as `want` (a decode() result): names, shapes, dtypes and stored
 * dtypes, checksums, array types, bytes, in order; the same metadata; byName pointing at them.
 */
export function sameTensors(got, want, label = '') {
  assert.equal(got.tensors.length, want.tensors.length, label);
  assert.deepEqual(got.metadata, want.metadata, label);
  want.tensors.forEach((w, i) => {
    const g = got.tensors[i];
    const at = `${label}${label ? ': ' : ''}${w.name}`;
    assert.equal(g.name, w.name, at);
    assert.deepEqual(g.shape, w.shape, at);
    assert.equal(g.dtype, w.dtype, at);
    assert.equal(g.storedDtype, w.storedDtype, at);
    assert.equal(g.checksum, w.checksum, at);
    assert.equal(g.data.constructor, w.data.constructor, at);
    assert.deepEqual(bytesOf(g), bytesOf(w), at);
    assert.equal(got.byName[w.name], g, at);
  });
}

/** The tensors decodeStream yielded, as a decode() result with the file's metadata (for sameTensors). */
export function streamResult(tensors, metadata) {
  return { tensors, metadata, byName: Object.fromEntries(tensors.map((t) => [t.name, t])) };
}
