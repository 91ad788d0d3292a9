// Fuzzing: mutated files (bit flips, byte runs, extreme field values, truncation, extension) either
// decode or throw an AnspackError — never another exception (RangeError, TypeError, ...), never a hang
// (each case runs under the test's timeout), with and without checksum verification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, readHeader, AnspackError } from '../src/index.js';
import { encodeFile, rng, randomInts } from './helpers/encoder.js';

const r0 = rng(2024);
const seeds = [
  encodeFile([
    { name: 'a', dtype: 'int8', shape: [20, 30], data: randomInts(r0, 600, 6, -128, 127), lanes: 3 },
    { name: 'b', dtype: 'uint16', shape: [50], data: randomInts(r0, 50, 300, 0, 65535), lanes: 8, precision: 10 },
    { name: 'c', dtype: 'float32', shape: [4], data: [1, 2, 3, 4] },
    { name: 'd', dtype: 'int32', shape: [3, 3], data: randomInts(r0, 9, 1e6, -2e9, 2e9), lanes: 9 },
  ], { m: [1, 2] }),
  encodeFile([{ name: 'only', dtype: 'int16', shape: [2000], data: randomInts(r0, 2000, 40, -32768, 32767), lanes: 1, precision: 15 }]),
  encodeFile([{ name: 'const', dtype: 'uint8', shape: [7, 7], data: new Array(49).fill(9), lanes: 4 }]),
  // coding 2 (spec section 7.4): 12 rows in 3 groups
  encodeFile([{ name: 'grp', dtype: 'int8', shape: [12, 10], data: randomInts(r0, 120, 4, -128, 127), lanes: 2, groups: [0, 1, 2, 2, 1, 0, 0, 1, 2, 0, 1, 1] }]),
];

const EXTREMES = [0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x10000, 0x80000000];

function mutate(file, r) {
  const kind = Math.floor(r() * 6);
  let b = file.slice();
  const at = Math.floor(r() * b.length);
  if (kind === 0) b[at] ^= 1 << Math.floor(r() * 8);
  else if (kind === 1) for (let i = at; i < Math.min(b.length, at + 1 + Math.floor(r() * 16)); i++) b[i] = Math.floor(r() * 256);
  else if (kind === 2 && at + 4 <= b.length) new DataView(b.buffer).setUint32(at & ~3, EXTREMES[Math.floor(r() * EXTREMES.length)], true);
  else if (kind === 3) b = b.slice(0, at);
  else if (kind === 4) { const c = new Uint8Array(b.length + 1 + Math.floor(r() * 9)); c.set(b); b = c; }
  else b[at] = 0;
  return b;
}

test('mutated files: AnspackError or a valid decode, nothing else', () => {
  const r = rng(77);
  const counts = {};
  let decoded = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const b = mutate(seeds[trial % seeds.length], r);
    for (const options of [{}, { verify: false }]) {
      try {
        const out = decode(b, { ...options, maxEntries: 1 << 20 });
        decoded++;
        for (const t of out.tensors) assert.equal(t.data.length, t.shape.reduce((x, y) => x * y, 1));
      } catch (e) {
        if (!(e instanceof AnspackError)) assert.fail(`trial ${trial}: ${e?.stack ?? e}`);
        assert.match(e.message, /^[A-Za-z]+: /);
        counts[e.code] = (counts[e.code] ?? 0) + 1;
      }
      try {
        readHeader(b, options);
      } catch (e) {
        if (!(e instanceof AnspackError)) assert.fail(`trial ${trial} (readHeader): ${e?.stack ?? e}`);
      }
    }
  }
  // The mutations reach deep checks, not only the first bytes.
  for (const code of ['BadMagic', 'Truncated', 'SizeMismatch', 'BadTable', 'BadLayout', 'BadModel', 'ChecksumMismatch', 'CorruptStream']) {
    assert.ok(counts[code] > 0, `no ${code} among ${JSON.stringify(counts)}`);
  }
  assert.ok(decoded > 0, 'some mutations keep the file valid (e.g. verify: false over a changed raw value)');
});

/**
 * Decode `b` with both engines, with and without verify: each gives an AnspackError (passed to
 * `onError`) or entries of the right count; both engines must give the same verdict, code and offset
 * (and for a decode the same checksums). Returns how many of the four decodes succeeded.
 */
function engineVerdicts(b, trial, onError) {
  const results = [];
  let decoded = 0;
  for (const engine of ['js', 'wasm']) {
    for (const verify of [true, false]) {
      try {
        const out = decode(b, { verify, engine, maxEntries: 1 << 20 });
        for (const t of out.tensors) assert.equal(t.data.length, t.shape.reduce((x, y) => x * y, 1));
        results.push(`ok ${verify} ${out.tensors.map((t) => t.checksum).join(',')}`);
        decoded++;
      } catch (e) {
        if (!(e instanceof AnspackError)) assert.fail(`trial ${trial} ${engine}: ${e?.stack ?? e}`);
        onError(e);
        results.push(`${e.code} ${e.offset} ${verify}`);
      }
    }
  }
  assert.deepEqual(results.slice(0, 2), results.slice(2), `trial ${trial}`);
  return decoded;
}

test('mutated paired / chunked files (spec revision 2), both engines: AnspackError or a valid decode', () => {
  const r1 = rng(2025);
  const rev2 = [
    encodeFile([
      { name: 'c', dtype: 'int8', shape: [700], data: randomInts(r1, 700, 6, -128, 127), lanes: 3, chunk: 100 },
      { name: 'p', dtype: 'uint8', shape: [300], data: randomInts(r1, 300, 1.5, 0, 255), lanes: 4, pairs: true },
    ]),
    encodeFile([
      { name: 'pc', dtype: 'int8', shape: [10, 41], data: randomInts(r1, 410, 2, -128, 127), lanes: 8, pairs: true, chunk: 20 },
      { name: 'w', dtype: 'int32', shape: [99], data: randomInts(r1, 99, 1e5, -1e9, 1e9), lanes: 5, chunk: 7 },
      { name: 'k', dtype: 'int16', shape: [64], data: new Array(64).fill(3), lanes: 2, chunk: 9 },
    ]),
  ];
  const r = rng(78);
  const counts = {};
  for (let trial = 0; trial < 1500; trial++) {
    const b = mutate(rev2[trial % rev2.length], r);
    engineVerdicts(b, trial, (e) => { counts[e.code] = (counts[e.code] ?? 0) + 1; });
  }
  for (const code of ['ReservedNonZero', 'BadModel', 'ChecksumMismatch', 'CorruptStream']) {
    assert.ok(counts[code] > 0, `no ${code} among ${JSON.stringify(counts)}`);
  }
});

test('mutated PRODUCT pair files (spec revision 3), mode / P / V fields too: both engines agree, AnspackError or a valid decode', () => {
  const r2 = rng(2026);
  const small = (n, V, lo) => Array.from({ length: n }, () => lo + Math.min(V - 1, Math.floor(Math.abs(r2() + r2() - 1) * V)));
  const seedsP = [
    encodeFile([
      { name: 'pc', dtype: 'int8', shape: [600], data: small(600, 9, -4), lanes: 8, precision: 10, product: true, chunk: 40 },
      { name: 'p', dtype: 'uint8', shape: [20, 11], data: small(220, 4, 0), lanes: 5, precision: 4, product: true },
    ]),
    encodeFile([
      { name: 'odd', dtype: 'uint8', shape: [2 * 301], data: small(602, 7, 3), lanes: 3, precision: 6, product: true, chunk: 50 },
      { name: 'u', dtype: 'int16', shape: [40], data: small(40, 30, -9), lanes: 4, chunk: 9 },
    ]),
  ];
  const blocks = seedsP.map((f) => readHeader(f).tensors.filter((t) => t.coding === 'rans').map((t) => t.dataOffset));
  const r = rng(79);
  const counts = {};
  let decoded = 0;
  const rules = { withoutPairs: 0, vocabTooBig: 0 };  // the new rules of section 13 rule 7 are reached
  for (let trial = 0; trial < 1500; trial++) {
    const which = trial % seedsP.length;
    let b;
    if (trial % 3 === 0) {
      // a rANS header field of a block: mode, P or V (then the checks of rule 7 decide)
      b = seedsP[which].slice();
      const o = blocks[which][Math.floor(r() * blocks[which].length)];
      const field = Math.floor(r() * 3);
      if (field === 0) b[o + 17] = Math.floor(r() * 8);
      else if (field === 1) b[o + 16] = Math.floor(r() * 17);
      else new DataView(b.buffer).setUint32(o, Math.floor(r() * 300), true);
    } else {
      b = mutate(seedsP[which], r);
    }
    decoded += engineVerdicts(b, trial, (e) => {
      assert.match(e.message, /byte offset \d+/);
      counts[e.code] = (counts[e.code] ?? 0) + 1;
      if (/only together with PAIRS/.test(e.message)) rules.withoutPairs++;
      if (/with PRODUCT, V\^2/.test(e.message)) rules.vocabTooBig++;
    });
  }
  for (const code of ['ReservedNonZero', 'BadModel', 'ChecksumMismatch', 'CorruptStream']) {
    assert.ok(counts[code] > 0, `no ${code} among ${JSON.stringify(counts)}`);
  }
  assert.ok(decoded > 0);
  assert.ok(rules.withoutPairs > 0 && rules.vocabTooBig > 0, JSON.stringify(rules));
});

test('mutated row-group files (spec revision 4, coding 2), group header / map / sub-block fields too: both engines agree, AnspackError or a valid decode', () => {
  const r3 = rng(2027);
  const ints = (n, V, lo) => Array.from({ length: n }, () => lo + Math.min(V - 1, Math.floor(Math.abs(r3() + r3() - 1) * V)));
  const seedsG = [
    encodeFile([
      { name: 'g', dtype: 'int8', shape: [23, 12], data: ints(276, 9, -4), lanes: 3, groups: Array.from({ length: 23 }, (_, i) => (i * 5) % 3),
        groupOptions: [{ chunk: 20 }, { pairs: true }, { product: true, precision: 10 }] },
      { name: 'u', dtype: 'uint16', shape: [40], data: ints(40, 30, 100), lanes: 4 },
    ]),
    encodeFile([
      { name: 'h', dtype: 'int16', shape: [9, 2, 5], data: ints(90, 40, -20), lanes: 2, chunk: 7, groups: [4, 0, 1, 2, 3, 0, 1, 2, 3] },
      { name: 'k', dtype: 'uint8', shape: [6, 6], data: new Array(36).fill(7), lanes: 2, groups: [0, 1, 1, 0, 1, 0] },
    ]),
  ];
  // the block of each grouped tensor: its group header fields and sub-block headers
  const targets = seedsG.map((f) => {
    const out = [];
    for (const t of readHeader(f).tensors) {
      if (t.coding !== 'groups') continue;
      const G = t.groupCount;
      const o = t.dataOffset;
      out.push(o, o + 4, ...Array.from({ length: G }, (_, g) => o + 8 + 8 * g), ...Array.from({ length: G }, (_, g) => o + 8 + 8 * G + 4 * g), o + 8 + 12 * G);
      for (const sub of t.groups) out.push(sub.dataOffset, sub.dataOffset + 4, sub.dataOffset + 16, sub.dataOffset + 20);
    }
    return out;
  });
  const r = rng(80);
  const counts = {};
  let decoded = 0, groupErrors = 0;
  for (let trial = 0; trial < 1500; trial++) {
    const which = trial % seedsG.length;
    let b;
    if (trial % 3 === 0) {
      // a field of a row-group block: a small value, an extreme, or one flipped bit
      b = seedsG[which].slice();
      const at = targets[which][Math.floor(r() * targets[which].length)];
      const dv = new DataView(b.buffer);
      const kind = Math.floor(r() * 3);
      if (kind === 0) dv.setUint32(at, Math.floor(r() * 300), true);
      else if (kind === 1) dv.setUint32(at, EXTREMES[Math.floor(r() * EXTREMES.length)], true);
      else b[at + Math.floor(r() * 4)] ^= 1 << Math.floor(r() * 8);
    } else {
      b = mutate(seedsG[which], r);
    }
    decoded += engineVerdicts(b, trial, (e) => {
      assert.match(e.message, /byte offset \d+/);
      counts[e.code] = (counts[e.code] ?? 0) + 1;
      if (/: group \d+: |group \d+ owns no row|row map|G is \d+ groups/.test(e.message)) groupErrors++;
    });
    try {
      readHeader(b);
    } catch (e) {
      if (!(e instanceof AnspackError)) assert.fail(`trial ${trial} (readHeader): ${e?.stack ?? e}`);
    }
  }
  for (const code of ['ReservedNonZero', 'BadModel', 'ChecksumMismatch', 'CorruptStream']) {
    assert.ok(counts[code] > 0, `no ${code} among ${JSON.stringify(counts)}`);
  }
  assert.ok(decoded > 0);
  assert.ok(groupErrors > 100, `only ${groupErrors} errors about the row groups`);
});
