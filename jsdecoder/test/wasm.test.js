// The WebAssembly engine (src/wasm/) against the pure-JS engine (src/rans.js + rans_fast.js) and the
// readable reference decoder (src/reference.js): same values, checksums and stream statuses on the
// golden vectors, on random streams over many lane counts, precisions and dtypes, and the same
// AnspackError (code, offset, message) for corrupt files. Also: the committed module is current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decode, readHeader, AnspackError } from '../src/index.js';
import { wasmAvailable } from '../src/wasm/engine.js';
import { decodeRansReference } from '../src/reference.js';
import { encodeFile, fxhash26Ref, rng, randomInts } from './helpers/encoder.js';
import { assertEnginesAgree, bytesOf, run, stream } from './helpers/engines.js';

const ARRAYS = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array };
const RANGES = { int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1] };

test('WebAssembly is available in node, so engine "auto" is the wasm engine', () => {
  assert.equal(wasmAvailable(), true);
});

test('the committed src/wasm/rans_wasm.js is what src/wasm/rans.wat builds to (wat2wasm from wabt)', () => {
  const script = fileURLToPath(new URL('../scripts/build-wasm.mjs', import.meta.url));
  // Throws (fails the test) when the bytes differ or wat2wasm is missing: tests/run.sh installs wabt.
  const out = execFileSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
  assert.match(out, /is current/);
});

const vectors = new URL('../../tests/vectors/', import.meta.url);
for (const file of readdirSync(vectors).filter((f) => f.endsWith('.anspack'))) {
  test(`golden vector ${file}: wasm == js == expected values`, () => {
    const bytes = readFileSync(new URL(file, vectors));
    const expected = JSON.parse(readFileSync(new URL(file.replace(/\.anspack$/, '.json'), vectors)));
    const js = decode(bytes, { engine: 'js' });
    const wasm = decode(bytes, { engine: 'wasm' });
    const auto = decode(bytes);
    expected.tensors.forEach((e, i) => {
      for (const r of [wasm, auto]) {
        assert.equal(r.tensors[i].checksum, e.checksum);
        assert.equal(r.tensors[i].checksum, js.tensors[i].checksum);
        assert.ok(bytesOf(r.tensors[i].data).equals(bytesOf(js.tensors[i].data)), `${file} ${e.name}`);
      }
      if (e.coding === 'rans' && e.dtype !== 'float16') assert.deepEqual(Array.from(wasm.tensors[i].data), e.data.flat(Infinity));
    });
  });
}



/** Random values of a dtype with at most 2^P distinct values (spread over the dtype's range). */
function randomValues(r, n, P, dtype) {
  const [lo, hi] = RANGES[dtype];
  const V = Math.min(2 ** P, 1 + Math.floor(r() * Math.min(2 ** P, 300)));
  const pool = Array.from({ length: V }, () => lo + Math.floor(r() * (hi - lo + 1)));
  // Skewed choice from the pool (like quantized weights): index ~ |normal| * spread.
  return Array.from({ length: n }, () => pool[Math.min(V - 1, Math.floor(Math.abs(r() + r() + r() - 1.5) * V / 1.5))]);
}

const cases = [];
{
  const r = rng(7);
  const dtypes = Object.keys(ARRAYS);
  let c = 0;
  for (const L of [1, 2, 3, 4, 5, 8, 9, 31, 32, 256, 'n']) {
    for (let P = 1; P <= 15; P++) {
      if ((c++ % 3) !== 0 && P !== 1 && P !== 15 && P !== 12) continue; // every P per L would be slow
      const n = L === 'n' ? 1 + Math.floor(r() * 400) : Math.max(L, 1 + Math.floor(r() * 3000));
      cases.push({ L: L === 'n' ? n : L, P, n, dtype: dtypes[c % dtypes.length] });
    }
  }
  // Long enough for several under-run blocks (4096 entries) and staging calls (65536 entries),
  // with a partial last row.
  for (const L of [1, 2, 4, 8, 7, 32, 256]) cases.push({ L, P: 12, n: 3 * 65536 + 5 * L + (L > 1 ? 1 : 0), dtype: L === 7 ? 'int16' : 'int8' });
  cases.push({ L: 4, P: 14, n: 70001, dtype: 'uint32' });
  // More lanes than one staging call holds (the stage is then one row), and rows split over calls.
  cases.push({ L: 70001, P: 10, n: 70004, dtype: 'int8' });
  cases.push({ L: 40000, P: 12, n: 100000, dtype: 'uint16' });
}

for (const { L, P, n, dtype } of cases) {
  test(`random stream: wasm == js == reference, L=${L} P=${P} n=${n} ${dtype}`, () => {
    const r = rng(n * 131 + L * 17 + P);
    const values = randomValues(r, n, P, dtype);
    const { m, model } = stream(values, P, L);
    const Ctor = ARRAYS[dtype];
    const wasm = run(model, m.vocab, Ctor, 'wasm');
    const js = run(model, m.vocab, Ctor, 'js');
    assert.equal(wasm.status, 'ok');
    assert.equal(js.status, 'ok');
    assert.equal(wasm.checksum, fxhash26Ref(m.ids));
    assert.equal(wasm.checksum, js.checksum);
    assert.equal(wasm.wordsRead, model.words.length);
    assert.ok(bytesOf(wasm.out).equals(bytesOf(js.out)));
    assert.ok(bytesOf(wasm.out).equals(bytesOf(Ctor.from(values))));
    if (n <= 5000) {
      const ref = decodeRansReference(model, m.vocab);
      assert.equal(ref.checksum, wasm.checksum);
      assert.deepEqual(Array.from(wasm.out), ref.values);
    }
  });
}

test('corrupt streams: the same status as the JS engine and the reference (under-run, leftover, final state)', () => {
  const seen = new Set();
  for (const L of [1, 2, 3, 4, 8, 9, 32]) {
    const values = randomInts(rng(L + 1000), 9000, 8, -128, 127);
    const { m, model } = stream(values, 12, L);
    const W = model.words.length;
    const variants = [
      ['cut', { ...model, words: model.words.slice(0, W >> 1) }],
      ['cut one', { ...model, words: model.words.slice(0, W - 1) }],
      ['extra word', { ...model, words: Uint16Array.from([...model.words, 7]) }],
      ['state + 1', { ...model, states: model.states.map((x, j) => (j === L - 1 ? x + 1 : x)) }],
      ['word flipped', { ...model, words: model.words.map((w, k) => (k === (W >> 2) ? w ^ 0x100 : w)) }],
      // Fewer entries than encoded: the last lanes stop before reaching 2^16 (often with k = W).
      ...[1, 2, 3, 4, 5].map((d) => [`n - ${d}`, { ...model, n: model.n - d }]),
    ];
    for (const [label, bad] of variants) {
      assertEnginesAgree(bad, m.vocab, `L=${L} ${label}`, seen);
    }
  }
  for (const s of ['underrun', 'leftover', 'badFinalState']) assert.ok(seen.has(s), `no case gave ${s}`);
});

test('an under-run stops the wasm loops early: a 2M-entry tensor whose stream ends after a few words', () => {
  const values = randomInts(rng(5), 2 ** 21, 8, -128, 127);
  const { m, model } = stream(values, 12, 4);
  const cut = { ...model, words: model.words.slice(0, 100) };
  const r = run(cut, m.vocab, Int8Array, 'wasm');
  assert.equal(r.status, 'underrun');
  // Each 4096-entry block reads at most 4096 words: the loop stopped within the first blocks.
  assert.ok(r.wordsRead <= 100 + 2 * 4096, `read ${r.wordsRead} words`);
});

/** Decode with both engines; both must succeed alike or throw the same AnspackError. */
function sameOutcome(bytes, options = {}) {
  const outcome = (engine) => {
    try {
      const d = decode(bytes, { ...options, engine });
      return { ok: d.tensors.map((t) => [t.name, t.checksum, bytesOf(t.data).toString('hex')]) };
    } catch (e) {
      assert.ok(e instanceof AnspackError, `not an AnspackError: ${e}`);
      return { code: e.code, offset: e.offset, tensor: e.tensor, message: e.message };
    }
  };
  const js = outcome('js');
  assert.deepEqual(outcome('wasm'), js);
  return js;
}

test('corrupt files: the same AnspackError (code, offset, tensor, message) from both engines', () => {
  const codes = new Set();
  const r = rng(99);
  for (const [L, dtype] of [[1, 'int8'], [4, 'int16'], [5, 'uint8'], [8, 'int32'], [33, 'int8']]) {
    const data = randomInts(rng(L), 5000, 20, ...RANGES[dtype].map((x) => Math.max(-30000, Math.min(30000, x))));
    const file = encodeFile([{ name: `t${L}`, dtype, shape: [50, 100], data, lanes: L }]);
    const dv = new DataView(file.buffer);
    const info = readHeader(file).tensors[0];
    const dataOffset = info.dataOffset, W = info.words;
    const wordsAt = dataOffset + info.dataSize - 2 * W;
    for (let t = 0; t < 40; t++) {
      const b = file.slice();
      const k = Math.floor(r() * W);
      b[wordsAt + 2 * k + (t & 1)] ^= 1 << Math.floor(r() * 8);
      const o = sameOutcome(b);
      codes.add(o.code ?? 'ok');
      codes.add(sameOutcome(b, { verify: false }).code ?? 'ok');
    }
    // A lane state changed: the block checksum catches it, or (verify off) the final-state check.
    const s = file.slice();
    new DataView(s.buffer).setUint32(dataOffset + 24, dv.getUint32(dataOffset + 24, true) ^ 0x40, true);
    codes.add(sameOutcome(s).code);
    codes.add(sameOutcome(s, { verify: false }).code ?? 'ok');
    assert.equal(sameOutcome(file).ok.length, 1);
  }
  assert.ok(codes.has('ChecksumMismatch'), [...codes].join());
  assert.ok(codes.has('CorruptStream'), [...codes].join());
});

test('engine option: "js", "wasm", "auto" accepted, anything else is a BadArgument', () => {
  const file = encodeFile([{ name: 'w', dtype: 'int8', shape: [100], data: randomInts(rng(3), 100, 5, -128, 127) }]);
  for (const engine of ['js', 'wasm', 'auto', undefined]) assert.equal(decode(file, { engine }).tensors[0].data.length, 100);
  assert.throws(() => decode(file, { engine: 'gpu' }), (e) => e instanceof AnspackError && e.code === 'BadArgument');
});

test('memory that cannot grow: LimitExceeded, and the next decode works again', () => {
  // A stream bigger than the module's memory so far (the tests above used at most ~1 MiB of words).
  const values = randomInts(rng(11), 3 * 2 ** 20, 40, -128, 127);
  const file = encodeFile([{ name: 'big', dtype: 'int8', shape: [values.length], data: values, lanes: 8 }]);
  const grow = WebAssembly.Memory.prototype.grow;
  WebAssembly.Memory.prototype.grow = function () { throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'); };
  try {
    assert.throws(() => decode(file, { engine: 'wasm' }), (e) => e instanceof AnspackError && e.code === 'LimitExceeded' && /engine: 'js'/.test(e.message));
  } finally {
    WebAssembly.Memory.prototype.grow = grow;
  }
  const d = decode(file, { engine: 'wasm' });
  assert.ok(bytesOf(d.tensors[0].data).equals(bytesOf(Int8Array.from(values))));
});
