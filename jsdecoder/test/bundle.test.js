// dist/anspack.js and dist/worker.js (scripts/bundle.mjs: the decoder as one ES module for pages):
// committed and current, the same exports as src/index.js, the same tensors and the same errors
// on every vector, decodeAsync through dist/worker.js; and the bundler's own rules (its lexer, a
// name declared twice, forms of import it does not handle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as src from '../src/index.js';
import * as dist from '../dist/anspack.js';
import { build, bundle, codeLines, readText } from '../scripts/bundle.mjs';
import { encodeFile, rng, randomInts } from './helpers/encoder.js';
import { errorOf } from './helpers/engines.js';
import { sameTensors, streamResult } from './helpers/compare.js';

const VECTORS = new URL('../../tests/vectors/', import.meta.url);
const DIST = new URL('../dist/', import.meta.url);


test('dist/anspack.js and dist/worker.js are committed and current (node jsdecoder/scripts/bundle.mjs)', () => {
  for (const [name, text] of Object.entries(build())) {
    assert.ok(readText(new URL(name, DIST)) === text, `jsdecoder/dist/${name} is not current: run node jsdecoder/scripts/bundle.mjs`);
  }
});

test('bundlers can find the worker: one literal new Worker(new URL(...)), no top-level await in it', () => {
  // Vite, webpack 5 and Parcel build worker.js as a worker chunk only when they see this exact form;
  // a second `new URL('./worker.js', import.meta.url)` would make webpack copy it as a plain asset;
  // Vite builds workers as classic scripts, which cannot have a top-level await (checked by a real
  // Vite build in tests/test_browser_bundlers.py)
  const text = readFileSync(new URL('../dist/anspack.js', import.meta.url), 'utf8');
  const literal = "new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })";
  assert.equal(text.split(literal).length - 1, 1);
  assert.equal(text.split("new URL('./worker.js', import.meta.url)").length - 1, 1);
  const worker = readFileSync(new URL('../dist/worker.js', import.meta.url), 'utf8');
  const code = worker.split('\n').filter((l) => !l.trim().startsWith('//'));
  assert.ok(!code.some((l) => /\bawait\b/.test(l)), 'dist/worker.js awaits (it has no async function: a top-level await)');
});

test('the bundle exports what src/index.js exports, as one file that imports nothing', () => {
  assert.deepEqual(Object.keys(dist).sort(), Object.keys(src).sort());
  const text = readFileSync(new URL('anspack.js', DIST), 'utf8');
  assert.ok(!/^import /m.test(text), 'no static import left');
  assert.ok(text.includes('==== module src/wasm/engine.js ===='));
  // its own classes: an error thrown by the bundle is the bundle's AnspackError
  const e = errorOf(() => dist.decode(new Uint8Array(8)));
  assert.ok(e instanceof dist.AnspackError);
  assert.equal(e.code, 'BadMagic');
});

test("the package's entry ('anspack', by its name) is dist/anspack.js; its sources stay reachable as anspack/src/index.js", async () => {
  assert.ok(import.meta.resolve('anspack').endsWith('/jsdecoder/dist/anspack.js'), import.meta.resolve('anspack'));
  assert.ok(import.meta.resolve('anspack/src/index.js').endsWith('/jsdecoder/src/index.js'));
  assert.equal((await import('anspack')).decode, dist.decode);
});

test('every golden vector decodes to the same tensors through the bundle, with both engines', () => {
  const files = readdirSync(VECTORS).filter((f) => f.endsWith('.anspack'));
  assert.ok(files.length >= 10);
  for (const f of files) {
    const bytes = readFileSync(new URL(f, VECTORS));
    for (const engine of ['js', 'wasm']) {
      sameTensors(dist.decode(bytes, { engine }), src.decode(bytes, { engine }), `${f} ${engine}`);
    }
    sameTensors(dist.decode(bytes, { dequantize: true }), src.decode(bytes, { dequantize: true }), `${f} dequantized`);
    assert.deepEqual(dist.readHeader(bytes), src.readHeader(bytes));
  }
});

test('every bad vector fails the same way through the bundle (code, offset, tensor, message)', () => {
  const bad = new URL('bad/', VECTORS);
  const index = JSON.parse(readFileSync(new URL('index.json', bad)));
  assert.ok(Object.keys(index).length >= 20);
  for (const [name, code] of Object.entries(index)) {
    const bytes = readFileSync(new URL(`${name}.anspack`, bad));
    const a = errorOf(() => dist.decode(bytes));
    const b = errorOf(() => src.decode(bytes));
    assert.ok(a instanceof dist.AnspackError, name);
    assert.equal(a.code, code, name);
    assert.deepEqual([a.code, a.offset, a.tensor, a.message], [b.code, b.offset, b.tensor, b.message], name);
  }
});

test('decodeAsync of the bundle runs dist/worker.js (chunks split over 2 workers), decodeStream too', async () => {
  const r = rng(11);
  const file = encodeFile([
    { name: 'big', dtype: 'int8', shape: [90, 100], data: randomInts(r, 9000, 7, -128, 127), lanes: 8, chunk: 1000 },
    { name: 'small', dtype: 'uint8', shape: [300], data: randomInts(r, 300, 3, 0, 255), lanes: 4 },
  ]);
  const want = src.decode(file);
  const pool = await dist.createDecoderPool(2);
  try {
    sameTensors(await pool.decode(file), want, 'pool of 2');
  } finally {
    await pool.terminate();
  }
  sameTensors(await dist.decodeAsync(file, { workers: 2 }), want, 'decodeAsync');
  const streamed = [];
  async function* pieces() { yield file.subarray(0, 100); yield file.subarray(100); }
  for await (const t of dist.decodeStream(pieces())) streamed.push(t);
  sameTensors(streamResult(streamed, want.metadata), want, 'decodeStream');
  // with workers: the bundle once had a dynamic import('./async.js') here, a file dist/ does not have
  const withWorkers = [];
  for await (const t of dist.decodeStream(pieces(), { workers: 2 })) withWorkers.push(t);
  sameTensors(streamResult(withWorkers, want.metadata), want, 'decodeStream, 2 workers');
  // a corrupt word: the same error from the bundle's workers as from decode()
  const bad = file.slice();
  bad[bad.length - 40] ^= 0x55;
  const e1 = errorOf(() => src.decode(bad));
  const e2 = await dist.decodeAsync(bad, { workers: 2 }).then(() => null, (e) => e);
  assert.ok(e2 instanceof dist.AnspackError);
  assert.deepEqual([e2.code, e2.offset, e2.tensor], [e1.code, e1.offset, e1.tensor]);
});

test('codeLines: which lines start in code (template literals, nested ${`...`}, strings, comments, regexes)', () => {
  const text = [
    'const a = `x',              // 1 code
    '${b + `y {',                // 2 in the template
    '}`} z`;',                   // 3 in the nested template
    "const re = /[`'\"]/g, d = x / 2; const s = '`';",  // 4 code: a regex and a string with a backtick
    '/* a',                      // 5 code
    'const fake = 1;',           // 6 in the comment
    '*/ const c = "/*";',        // 7 in the comment
    'const t = `${{ a: 1 }.a}',  // 8 code
    'const fake2 = 2;`;',        // 9 in the template
    'return /=/.test(s);',       // 10 code
    '',                          // 11 code
  ].join('\n');
  assert.deepEqual(codeLines(text, 't'), [true, false, false, true, true, false, false, true, false, true, true]);
  assert.throws(() => codeLines('const a = `open\n', 't'), /ends inside a template literal/);
  assert.throws(() => codeLines("const a = 'open\nb';", 't'), /past the end of its line/);
});

test('the bundler refuses what one scope cannot hold and forms of import it does not handle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anspack-bundle-'));
  try {
    const w = (name, text) => writeFileSync(join(dir, name), text);
    w('a.js', "import { f } from './b.js';\nconst x = 1;\nexport function g() { return f() + x; }\n");
    w('b.js', "const x = 2;\nexport function f() { return x; }\n");
    assert.throws(() => bundle(join(dir, 'a.js'), ''), /top-level name x is declared in both .*b\.js and .*a\.js/);
    w('b.js', "const y = 2;\nexport function f() { return y; }\n");
    const out = bundle(join(dir, 'a.js'), '// banner');
    assert.match(out, /^\/\/ banner\n/);
    assert.ok(out.indexOf('function f()') < out.indexOf('function g()'), 'a dependency comes first');
    assert.match(out, /export \{ g \};\n$/);
    w('c.js', "import { f as h } from './b.js';\nexport const z = h();\n");
    assert.throws(() => bundle(join(dir, 'c.js'), ''), /only plain names/);
    w('c.js', "import d from './b.js';\nexport const z = d;\n");
    assert.throws(() => bundle(join(dir, 'c.js'), ''), /a form of import\/export this script does not handle/);
    w('c.js', "import { nope } from './b.js';\nexport const z = nope;\n");
    assert.throws(() => bundle(join(dir, 'c.js'), ''), /does not export nope/);
    w('c.js', "export default 3;\n");
    assert.throws(() => bundle(join(dir, 'c.js'), ''), /does not handle/);
    // a dynamic import of one of the package's modules: no such file next to the bundle
    w('c.js', "export async function z() { return (await import('./b.js')).f(); }\n");
    assert.throws(() => bundle(join(dir, 'c.js'), ''), /c\.js:1: a dynamic import of one of this package's modules/);
    w('c.js', "export async function z() { return import(/* webpackIgnore: true */ 'node:os'); }\n");
    assert.match(bundle(join(dir, 'c.js'), ''), /import\(\/\* webpackIgnore: true \*\/ 'node:os'\)/);
    // a declaration-looking line inside a template literal is text, not a declaration
    w('d.js', "import { f } from './b.js';\nexport const s = `\nconst y = 1;\n`;\n");
    assert.match(bundle(join(dir, 'd.js'), ''), /export \{ s \};/);
    // CRLF line ends (a Windows checkout) give the same bundle as LF ones
    w('e.js', "import { f } from './b.js';\r\nexport const t = f();\r\n");
    w('g.js', "import { f } from './b.js';\nexport const t = f();\n");
    assert.equal(bundle(join(dir, 'e.js'), '').replace('e.js', 'g.js'), bundle(join(dir, 'g.js'), ''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
