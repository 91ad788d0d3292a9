// The golden vectors of tests/vectors/ (written by the Python encoder) decode to exactly the
// expected values, and every bad vector is rejected with the expected error code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { decode, readHeader, AnspackError } from '../src/index.js';

const dir = new URL('../../tests/vectors/', import.meta.url);
const read = (name) => readFileSync(new URL(name, dir));
const BITS = { 1: Uint8Array, 2: Uint16Array, 4: Uint32Array };

const valid = readdirSync(dir).filter((f) => f.endsWith('.anspack'));

test('there are golden vectors, including the worked example', () => {
  assert.ok(valid.length >= 3, `only ${valid.length} vectors`);
  assert.ok(valid.includes('worked_example.anspack'));
  assert.ok(valid.includes('groups.anspack'), 'row groups (spec revision 4)');
});

for (const file of valid) {
  test(`golden vector ${file}`, () => {
    const bytes = read(file);
    const expected = JSON.parse(read(file.replace(/\.anspack$/, '.json')));
    const header = readHeader(bytes);
    assert.equal(header.fileSize, expected.file_size);
    assert.deepEqual(header.metadata, expected.metadata ?? {});
    const { tensors, byName, metadata } = decode(bytes);
    for (const engine of ['js', 'wasm']) {  // both rANS engines give the same tensors
      const other = decode(bytes, { engine }).tensors;
      tensors.forEach((t, i) => assert.deepEqual(other[i].data, t.data, `${t.name} ${engine}`));
    }
    assert.deepEqual(metadata, expected.metadata ?? {});
    assert.equal(tensors.length, expected.tensors.length);
    expected.tensors.forEach((e, i) => {
      const t = tensors[i];
      const info = header.tensors[i];
      assert.equal(t.name, e.name);
      assert.equal(byName[e.name], t);
      assert.deepEqual(t.shape, e.shape);
      assert.equal(t.dtype, e.dtype);
      assert.equal(info.coding, e.coding);
      assert.equal(t.checksum, e.checksum);
      assert.equal(info.checksum, e.checksum);
      if (e.coding === 'rans') {
        assert.equal(info.vocabSize, e.vocab_size);
        assert.equal(info.lanes, e.lanes);
        assert.equal(info.words, e.words);
        assert.equal(info.precision, e.precision);
        // spec revision 2 (sections 7.1, 7.2): older vectors list no pairs / chunk fields (both off)
        assert.equal(info.pairs, e.pairs ?? false);
        // spec revision 3 (section 7.3): PRODUCT pairs; older vectors list no product field (off)
        assert.equal(info.product, e.product ?? false);
        assert.equal(info.chunkSize, e.chunk ?? 0);
        if (e.chunks !== undefined) assert.equal(info.chunks, e.chunks);
        assert.equal(info.symbols, info.pairs ? t.data.length / 2 : t.data.length);
      }
      if (e.coding === 'groups') {
        // spec revision 4 (section 7.4): the row map and each group's sub-block
        assert.deepEqual(Array.from(info.rowMap), e.row_groups);
        assert.equal(info.groupCount, e.groups.length);
        e.groups.forEach((eg, g) => {
          const ig = info.groups[g];
          assert.equal(ig.rows, eg.rows, `${e.name} group ${g}`);
          assert.equal(ig.checksum, eg.checksum, `${e.name} group ${g}`);
          assert.deepEqual([ig.vocabSize, ig.lanes, ig.words, ig.precision, ig.pairs, ig.product, ig.chunkSize, ig.chunks],
            [eg.vocab_size, eg.lanes, eg.words, eg.precision, eg.pairs, eg.product, eg.chunk, eg.chunks], `${e.name} group ${g}`);
        });
      }
      if (e.bits) {
        const bits = new BITS[t.data.BYTES_PER_ELEMENT](t.data.buffer, t.data.byteOffset, t.data.length);
        assert.deepEqual(Array.from(bits), e.bits);
      } else {
        assert.deepEqual(Array.from(t.data), e.data);
      }
    });
  });
}

test('worked example decodes to the matrix printed in spec section 16', () => {
  const { byName } = decode(read('worked_example.anspack'));
  const w = byName.w;
  assert.ok(w.data instanceof Int8Array);
  assert.deepEqual(w.shape, [3, 8]);
  assert.deepEqual(Array.from(w.data), [0, 1, 0, -1, 0, 0, 2, 0, 0, 0, -1, 0, 1, 0, 0, -2, 3, 0, 1, 0, -1, 0, 0, 1]);
  assert.equal(w.checksum, 29616549);
});

const badIndex = JSON.parse(read('bad/index.json'));
for (const [name, code] of Object.entries(badIndex)) {
  test(`bad vector ${name} -> ${code}`, () => {
    const bytes = read(`bad/${name}.anspack`);
    assert.throws(() => decode(bytes), (e) => {
      assert.ok(e instanceof AnspackError, `${e}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, /byte offset \d+/);
      return true;
    });
  });
}

// Spec section 12 / rule 10: a dequant block's kind and body are checked only when dequantizing,
// after the tensor's checksums and before the next tensor's (both engines).
const dequantizeIndex = JSON.parse(read('bad/dequantize.json'));
for (const [name, { dequantize, integers }] of Object.entries(dequantizeIndex)) {
  test(`dequantize vector ${name} -> ${dequantize} (integers: ${integers})`, () => {
    const bytes = read(`bad/${name}.anspack`);
    for (const engine of ['js', 'wasm']) {
      const codeOf = (opts) => { try { decode(bytes, { ...opts, engine }); return 'OK'; } catch (e) { assert.ok(e instanceof AnspackError, `${e}`); return e.code; } };
      assert.equal(codeOf({ dequantize: true }), dequantize, engine);
      assert.equal(codeOf({}), integers, engine);
    }
  });
}
