// Builds dist/anspack.js: the whole decoder (src/index.js and every module it imports) as ONE ES
// module, for pages that load it without a bundler (the 14 separate module files of src/ cost a
// freshly opened page ~120-200 ms of requests before the first decode; one file ~20-30 ms, see
// benchmarks/README.md, cold start), and dist/worker.js, decodeAsync's worker, which imports it.
//
//   node jsdecoder/scripts/bundle.mjs           write dist/anspack.js and dist/worker.js
//   node jsdecoder/scripts/bundle.mjs --check   exit 1 if the committed files are not current
//
// How: "scope hoisting" for this package's own code, which keeps to a few rules that the script
// checks (it stops with an error naming the module and line otherwise):
// - every static import is one line: `import { a, b } from './x.js';` or `import * as ns from './x.js';`
//   (no aliases, no default imports); `export { a, b } from './x.js';` likewise; other imports
//   are dynamic imports of node's modules (`await import('node:os')` inside functions), which stay
//   as they are (a dynamic import of one of this package's modules is an error: no such file would
//   exist next to the bundle);
// - top-level declarations start at column 0 (`function`, `async function`, `const`, `let`, `class`,
//   each optionally after `export `), and no two modules declare the same top-level name.
// The modules' bodies are then concatenated in dependency order (a module after the modules it
// imports, cycles -- index.js <-> async.js, stream.js, gpu.js -- resolved by function hoisting: no
// module's top-level code calls into a module after it), their import lines dropped, `export `
// removed from their declarations, and the entry's exports listed once at the end. The output is
// the sources' text otherwise unchanged (comments kept), so it is deterministic and readable, and a
// stack trace's function names are the sources'. No dependencies.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');

const IMPORT = /^import \{([^}]*)\} from '([^']+)';$/;
const IMPORT_NS = /^import \* as ([A-Za-z_$][\w$]*) from '([^']+)';$/;
const REEXPORT = /^export \{([^}]*)\} from '([^']+)';$/;
const DECL = /^(export )?(async function\*?|function\*?|const|let|class) ([A-Za-z_$][\w$]*)/;
const DYNAMIC_RELATIVE = /\bimport\s*\(\s*(\/\*[^*]*\*\/\s*)?['"`]\.\.?\//;

class BundleError extends Error {}

/** A path relative to jsdecoder/, with '/' on every OS (it is written into the bundle). */
const relPath = (file) => relative(root, file).split(sep).join('/');

/** A file's text with LF line ends (a checkout may have CRLF ones): the bundle is the same everywhere. */
export const readText = (file) => readFileSync(file, 'utf8').replace(/\r\n/g, '\n');

function names(list, where) {
  return list.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    if (!/^[A-Za-z_$][\w$]*$/.test(s)) throw new BundleError(`${where}: only plain names are supported in import/export lists, got ${JSON.stringify(s)}`);
    return s;
  });
}

/**
 * For each line of a module's text, whether it starts in code: not inside a template literal (the
 * WGSL of gpu.js), a string or a block comment. A small lexer: comments, the three kinds of string
 * (template literals with nested `${...}`), and regular expression literals (a `/` where an
 * expression starts). Throws if the text does not end in code.
 */
export function codeLines(text, rel) {
  const starts = [true];
  const stack = [];  // for each open `${`: the brace depth inside it
  let state = 'code';
  let prev = '';  // last significant character in code (or a word), to tell a regex from a division
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      if (state === 'line') state = 'code';
      if (state === "'" || state === '"' || state === 're') throw new BundleError(`${rel}:${starts.length}: a string or regular expression runs past the end of its line`);
      starts.push(state === 'code');
      continue;
    }
    switch (state) {
      case 'code':
        if (c === '/' && text[i + 1] === '/') { state = 'line'; i++; }
        else if (c === '/' && text[i + 1] === '*') { state = 'block'; i++; }
        else if (c === "'" || c === '"' || c === '`') state = c;
        else if (c === '/' && (prev === '' || /[(,=:[!&|?{};+\-*%<>~^]$/.test(prev) || /^(return|typeof|case|in|of|delete|void|throw|new)$/.test(prev))) state = 're';
        else if (c === '{') { if (stack.length) stack[stack.length - 1]++; prev = c; }
        else if (c === '}') {
          if (stack.length && stack[stack.length - 1] === 0) { stack.pop(); state = '`'; }
          else { if (stack.length) stack[stack.length - 1]--; prev = c; }
        } else if (/[A-Za-z_$0-9]/.test(c)) {
          let j = i;
          while (j + 1 < text.length && /[\w$]/.test(text[j + 1])) j++;
          prev = text.slice(i, j + 1);
          i = j;
        } else if (!/\s/.test(c)) prev = c;
        break;
      case 'line':
        break;
      case 'block':
        if (c === '*' && text[i + 1] === '/') { state = 'code'; i++; prev = prev || ''; }
        break;
      case "'": case '"':
        if (c === '\\') i++;
        else if (c === state) { state = 'code'; prev = 'str'; }
        break;
      case '`':
        if (c === '\\') i++;
        else if (c === '`') { state = 'code'; prev = 'str'; }
        else if (c === '$' && text[i + 1] === '{') { stack.push(0); state = 'code'; prev = '{'; i++; }
        break;
      case 're':
        if (c === '\\') i++;
        else if (c === '[') state = 'reclass';
        else if (c === '/') { state = 'code'; prev = 're'; }
        break;
      case 'reclass':
        if (c === '\\') i++;
        else if (c === ']') state = 're';
        break;
    }
  }
  if (state !== 'code' && state !== 'line') throw new BundleError(`${rel}: the text ends inside a ${state === '`' ? 'template literal' : state === 'block' ? 'comment' : 'string'} (the script's lexer lost its way)`);
  return starts;
}

/** One module: its lines with imports dropped and `export ` removed, what it imports and declares. */
function parseModule(file) {
  const rel = relPath(file);
  const text = readText(file);
  const lines = text.split('\n');
  const inCode = codeLines(text, rel);
  const out = [];
  const deps = [];       // {file, names?, ns?} in source order
  const declared = [];   // top-level names
  const exported = [];   // names this module exports (declared here or re-exported)
  const reexports = [];  // {file, names}
  lines.forEach((line, i) => {
    const where = `${rel}:${i + 1}`;
    let m;
    if (!inCode[i]) {
      out.push(line);
      return;
    }
    if ((m = IMPORT.exec(line))) {
      deps.push({ file: join(dirname(file), m[2]), names: names(m[1], where), where });
      return;
    }
    if ((m = IMPORT_NS.exec(line))) {
      deps.push({ file: join(dirname(file), m[2]), ns: m[1], where });
      declared.push(m[1]);
      return;
    }
    if ((m = REEXPORT.exec(line))) {
      const d = { file: join(dirname(file), m[2]), names: names(m[1], where), where };
      deps.push(d);
      reexports.push(d);
      exported.push(...d.names);
      return;
    }
    if (/^import\b/.test(line) || (/^export\b/.test(line) && !DECL.test(line))) {
      throw new BundleError(`${where}: a form of import/export this script does not handle: ${line}`);
    }
    if (DYNAMIC_RELATIVE.test(line)) {
      // the bundle is one file: there is no ./x.js next to it to load later
      throw new BundleError(`${where}: a dynamic import of one of this package's modules (import it statically: the bundle has no separate files): ${line.trim()}`);
    }
    if ((m = DECL.exec(line))) {
      declared.push(m[3]);
      if (m[1]) {
        exported.push(m[3]);
        line = line.slice('export '.length);
      }
    }
    out.push(line);
  });
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return { file, rel, body: out.join('\n'), deps, declared, exported, reexports };
}

/** The modules reachable from `entry`, in emission order (post-order: dependencies first). */
function collect(entry) {
  const mods = new Map();
  const order = [];
  const visit = (file) => {
    if (mods.has(file)) return;
    if (!existsSync(file)) throw new BundleError(`${relPath(file)} is imported but does not exist`);
    const m = parseModule(file);
    mods.set(file, m);
    for (const d of m.deps) visit(d.file);
    order.push(m);
  };
  visit(entry);
  return { mods, order };
}

/**
 * The bundle of `entry` as text: its modules in dependency order, then `export { ... }` of the
 * entry's exports. `banner` is put first.
 */
export function bundle(entry, banner) {
  const { mods, order } = collect(entry);
  // no two modules may declare the same top-level name
  const owner = new Map();
  for (const m of order) {
    for (const n of m.declared) {
      if (owner.has(n)) throw new BundleError(`top-level name ${n} is declared in both ${owner.get(n)} and ${m.rel}: rename one (the bundle puts all modules in one scope)`);
      owner.set(n, m.rel);
    }
  }
  const emitted = new Set();
  const parts = [banner];
  for (const m of order) {
    // every imported name must be exported by its module
    for (const d of m.deps) {
      const dep = mods.get(d.file);
      for (const n of d.names ?? []) {
        if (!dep.exported.includes(n)) throw new BundleError(`${d.where}: ${dep.rel} does not export ${n}`);
      }
    }
    const pre = [];
    for (const d of m.deps) {
      if (d.ns === undefined) continue;
      const dep = mods.get(d.file);
      if (!emitted.has(dep.file)) throw new BundleError(`${d.where}: a namespace import of ${dep.rel}, which is part of an import cycle`);
      const own = dep.exported.filter((n) => dep.declared.includes(n));
      if (own.length !== dep.exported.length) throw new BundleError(`${d.where}: a namespace import of ${dep.rel}, which re-exports names`);
      pre.push(`const ${d.ns} = Object.freeze({ __proto__: null, ${own.join(', ')} });`);
    }
    parts.push(`// ==== module ${m.rel} ====`, ...pre, m.body, '');
    emitted.add(m.file);
  }
  const top = mods.get(entry);
  parts.push(`export { ${[...top.exported].sort().join(', ')} };`, '');
  return parts.join('\n');
}

/** dist/worker.js: src/worker.js with its imports of the package taken from ./anspack.js. */
export function workerModule(banner) {
  const file = join(src, 'worker.js');
  const rel = relPath(file);
  const exported = new Set(parseModule(join(src, 'index.js')).exported);
  const lines = readText(file).split('\n').map((line, i) => {
    const m = IMPORT.exec(line);
    if (m === null) {
      if (/^import\b/.test(line)) throw new BundleError(`${rel}:${i + 1}: a form of import this script does not handle: ${line}`);
      return line;
    }
    const ns = names(m[1], `${rel}:${i + 1}`);
    for (const n of ns) {
      if (!exported.has(n)) throw new BundleError(`${rel}:${i + 1}: ${n} is not exported by src/index.js`);
    }
    return `import { ${ns.join(', ')} } from './anspack.js';`;
  });
  return [banner, ...lines].join('\n');
}

export function build() {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const banner = (what) => `// anspack ${version}: ${what}. GENERATED by jsdecoder/scripts/bundle.mjs from jsdecoder/src/ -- do not edit;\n// edit the sources and run \`node jsdecoder/scripts/bundle.mjs\`. No dependencies.\n`;
  const main = bundle(join(src, 'index.js'), banner('the decoder as one ES module (all of src/index.js)'));
  const worker = workerModule(banner("decodeAsync's worker (src/worker.js), next to anspack.js"));
  return { 'anspack.js': main, 'worker.js': worker };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let files;
  try {
    files = build();
  } catch (e) {
    if (!(e instanceof BundleError)) throw e;
    console.error(`bundle.mjs: ${e.message}`);
    process.exit(2);
  }
  if (process.argv.includes('--check')) {
    const stale = Object.keys(files).filter((f) => !existsSync(join(dist, f)) || readText(join(dist, f)) !== files[f]);
    if (stale.length > 0) {
      console.error(`jsdecoder/dist/${stale.join(', jsdecoder/dist/')} not current: run node jsdecoder/scripts/bundle.mjs`);
      process.exit(1);
    }
    console.log('jsdecoder/dist is current');
  } else {
    mkdirSync(dist, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dist, f), text);
    console.log(`wrote ${Object.entries(files).map(([f, t]) => `jsdecoder/dist/${f} (${t.length} bytes)`).join(', ')}`);
  }
}
