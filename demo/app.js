// The anspack demo page: fetch each compressed model, decode it with the JS decoder, run the MLP here.
//
// Inference is done in float64 with one fixed summation order (acc = b[j]; acc += x[k] * W[j, k] for
// k = 0 .. in-1; ReLU), the same order as anspack.digits.forward_exact in Python, so the predicted
// classes agree exactly with Python's (the demo test checks this class by class).
//
// State for tests and the curious: window.demo = {ready, error, results: {setting: {...}}, ...}.

// The decoder as one file (jsdecoder/dist/anspack.js, built from jsdecoder/src by scripts/bundle.mjs):
// one request instead of the 14 modules of src/, which a freshly opened page would fetch one by one.
import { decode, readHeader, decodeSeedLayout } from '/jsdecoder/dist/anspack.js';

const DATA = 'data/';
const COLORS = ['#555555', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const state = { ref: null, models: [], results: {}, drawing: null };
window.demo = { ready: false, error: null, results: state.results, drawn: null, seed: {} };

const $ = (id) => document.getElementById(id);
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const hex = (c) => '0x' + c.toString(16).padStart(7, '0');
const pct = (a) => (100 * a).toFixed(2) + ' %';

function setStatus(text, cls = '') {
  const el = $('status');
  el.textContent = text;
  el.className = 'status ' + cls;
}

// ------------------------------------------------------------------------------------------------
// model: layers from the decoded tensors, float64 forward pass

function buildModel(byName, layerSpec) {
  return layerSpec.map(({ name, in: nin, out: nout }) => {
    const W = byName[`${name}.weight`].data, b = byName[`${name}.bias`].data;
    if (!(W instanceof Float32Array) || !(b instanceof Float32Array)) {
      throw new Error(`${name}: expected float32 weights after dequantization, got ${W.constructor.name}`);
    }
    if (W.length !== nin * nout || b.length !== nout) throw new Error(`${name}: unexpected shape`);
    return { name, nin, nout, W, b };
  });
}

/** Logits of one image (raw intensities 0..16), float64 throughout. */
function forward(model, pixels, scale) {
  let h = new Float64Array(pixels.length);
  for (let k = 0; k < pixels.length; k++) h[k] = pixels[k] / scale;
  for (let li = 0; li < model.length; li++) {
    const { nin, nout, W, b } = model[li];
    const o = new Float64Array(nout);
    const last = li === model.length - 1;
    for (let j = 0; j < nout; j++) {
      let acc = b[j];
      const row = j * nin;
      for (let k = 0; k < nin; k++) acc += h[k] * W[row + k];
      o[j] = last ? acc : (acc > 0 ? acc : 0);
    }
    h = o;
  }
  return h;
}

function argmax(v) {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

function softmax(v) {
  const m = Math.max(...v);
  const e = Array.from(v, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

// ------------------------------------------------------------------------------------------------
// loading and decoding every setting

function modelRow(s) {
  const tr = document.createElement('tr');
  tr.id = `row-${s.name}`;
  tr.innerHTML = `<td class="label"><span class="swatch"></span>${s.label}</td>
    <td class="num bytes"></td><td class="num ratio"></td><td class="num bits"></td>
    <td class="num decode">&hellip;</td><td class="num infer">&hellip;</td><td class="checks">&hellip;</td>
    <td class="num acc-js">&hellip;</td><td class="num acc-py"></td><td class="same">&hellip;</td>
    <td class="pred num">&ndash;</td>`;
  return tr;
}

async function loadSetting(s, idx, ref, tbody) {
  const tr = modelRow(s);
  tr.querySelector('.swatch').style.background = COLORS[idx % COLORS.length];
  tbody.appendChild(tr);
  const cell = (c) => tr.querySelector('.' + c);
  cell('acc-py').textContent = pct(s.accuracy);
  const t0 = performance.now();
  const resp = await fetch(DATA + s.file, { cache: 'no-store' });
  if (!resp.ok) throw new Error(`${s.file}: HTTP ${resp.status}`);
  const buf = await resp.arrayBuffer();
  const fetchMs = performance.now() - t0;
  // first decode (cold, includes JIT warm-up), then the mean of repeated decodes (the browser's timer
  // is coarse, so repeat until at least 25 ms have passed)
  let t1 = performance.now();
  let dec = decode(buf, { dequantize: true });
  const coldMs = performance.now() - t1;
  let reps = 0;
  t1 = performance.now();
  do {
    dec = decode(buf, { dequantize: true });
    reps++;
  } while (performance.now() - t1 < 25 && reps < 200);
  const best = (performance.now() - t1) / reps;
  const header = readHeader(buf);
  // checksums: decode() verified each tensor against the table (verify defaults to true); also compare
  // the table with what Python wrote
  const pyChecks = Object.fromEntries(s.tensors.map((t) => [t.name, t.checksum]));
  const checks = dec.tensors.map((t) => ({ name: t.name, checksum: t.checksum, python: pyChecks[t.name] }));
  const allMatch = checks.every((c) => c.checksum === c.python) && checks.length === s.tensors.length;

  const schemes = dec.metadata?.['anspack.schemes'] ?? {};
  tr.querySelector('.label').title = `${s.cli ?? ''}\n` +
    Object.entries(schemes).map(([k, v]) => `${k}: ${v}`).join('\n');
  const model = buildModel(dec.byName, ref.model.layers);
  const { X, y } = state.test;
  for (let i = 0; i < Math.min(40, X.length); i++) forward(model, X[i], ref.model.input_scale); // JIT warm-up
  const t2 = performance.now();
  const predictions = X.map((img) => argmax(forward(model, img, ref.model.input_scale)));
  const inferMs = performance.now() - t2;
  let correct = 0, same = 0;
  predictions.forEach((p, i) => { if (p === y[i]) correct++; if (p === s.predictions[i]) same++; });
  const accuracy = correct / y.length;

  cell('bytes').textContent = buf.byteLength.toLocaleString('en');
  cell('ratio').textContent = fmt(ref.model.safetensors_bytes / buf.byteLength) + '\u00d7';
  cell('bits').textContent = fmt(8 * buf.byteLength / ref.model.params, 3);
  cell('decode').textContent = fmt(best, 3);
  cell('infer').textContent = fmt(1000 * inferMs / X.length, 1);
  cell('infer').title = `float64 forward pass over the ${X.length} test images: ${fmt(inferMs, 1)} ms in all`;
  cell('decode').title = `first decode ${fmt(coldMs, 3)} ms (incl. JIT warm-up); shown: mean of ${reps} more; fetch ${fmt(fetchMs, 1)} ms; ` +
    `Python (anspack.decode, Numba) ${fmt(s.decode_ms, 3)} ms`;
  const ck = cell('checks');
  ck.textContent = allMatch ? `\u2713 ${checks.length} verified` : '\u2717 differ from Python';
  ck.className = 'checks ' + (allMatch ? 'ok' : 'bad');
  ck.title = checks.map((c) => `${c.name}: ${hex(c.checksum)}`).join('\n');
  cell('acc-js').textContent = pct(accuracy);
  const sm = cell('same');
  sm.textContent = `${same} / ${y.length}`;
  sm.className = 'same ' + (same === y.length ? 'ok' : 'bad');

  const weights = {};
  for (const t of dec.tensors) weights[t.name] = t.data;
  state.models.push({ setting: s, model, weights, idx });
  state.results[s.name] = {
    name: s.name, bytes: buf.byteLength, decodeMs: best, decodeColdMs: coldMs, inferMs,
    checksums: Object.fromEntries(checks.map((c) => [c.name, c.checksum])), checksumsMatchPython: allMatch,
    predictions, accuracy, correct, samePredictions: same,
    tensors: header.tensors.map((t) => ({ name: t.name, n: t.n, bytes: t.dataSize + t.dequantSize, coding: t.coding, dtype: t.dtype })),
  };
}

async function main() {
  const resp = await fetch(DATA + 'reference.json', { cache: 'no-store' });
  if (!resp.ok) throw new Error(`reference.json: HTTP ${resp.status} (run \`anspack demo\` to build the data)`);
  const ref = await resp.json();
  state.ref = ref;
  const m = ref.model;
  $('model-note').textContent = `${m.params.toLocaleString('en')} parameters, trained ${m.epochs} epochs on ` +
    `${m.train_images} images (seed ${m.seed}); accuracy on the ${m.test_images} held-out test images. ` +
    `"vs fp32" compares with model.safetensors (${m.safetensors_bytes.toLocaleString('en')} bytes). ` +
    `Hover the decode time and checksum cells for details.`;
  // the held-out test set is itself an .anspack file (uint8 images 0..16 and labels)
  const tresp = await fetch(DATA + ref.test.file, { cache: 'no-store' });
  if (!tresp.ok) throw new Error(`${ref.test.file}: HTTP ${tresp.status}`);
  const tbuf = await tresp.arrayBuffer();
  const tdec = decode(tbuf);
  const images = tdec.byName.images, labels = tdec.byName.labels;
  const npx = images.shape[1];
  state.test = {
    X: Array.from({ length: images.shape[0] }, (_, i) => Array.from(images.data.subarray(i * npx, (i + 1) * npx))),
    y: Array.from(labels.data),
  };
  $('test-note').textContent = `test set: ${ref.test.file}, ${tbuf.byteLength.toLocaleString('en')} bytes ` +
    `(${(images.data.length + labels.data.length).toLocaleString('en')} bytes of uint8 before rANS).`;
  $('py-table').textContent = ref.table;
  const tbody = document.querySelector('#models tbody');
  const errors = [];
  for (let i = 0; i < ref.settings.length; i++) {
    try {
      setStatus(`decoding ${ref.settings[i].file} (${i + 1}/${ref.settings.length})\u2026`);
      await loadSetting(ref.settings[i], i, ref, tbody);
    } catch (e) {
      const msg = e.code && !String(e.message).startsWith(e.code) ? `${e.code}: ${e.message}` : String(e.message);
      errors.push(`${ref.settings[i].name}: ${msg}`);
      const row = $(`row-${ref.settings[i].name}`);
      if (row) {
        for (const td of row.querySelectorAll('td.num, td.same')) if (td.textContent === '\u2026') td.textContent = '\u2013';
        const ck = row.querySelector('.checks');
        ck.textContent = `\u2717 ${e.code ?? 'error'}`;
        ck.className = 'checks bad';
        ck.title = msg;
      }
    }
  }
  state.models.sort((a, b) => a.idx - b.idx);
  setupDrawing();
  setupPlots();
  setupSeed();
  const allSame = Object.values(state.results).every((r) => r.samePredictions === state.test.y.length);
  const nDecoded = Object.keys(state.results).length;
  if (errors.length) {
    window.demo.error = errors.join('; ');
    setStatus(`decoded ${nDecoded} of ${ref.settings.length} models; errors: ${window.demo.error}`, 'bad');
  } else {
    setStatus(`decoded all ${nDecoded} models; checksums verified; ` +
      (allSame ? 'every prediction equals Python\u2019s' : 'SOME PREDICTIONS DIFFER FROM PYTHON\u2019S'), allSame ? 'ok' : 'bad');
  }
  $('footer').textContent = `data built by anspack ${ref.python.anspack} (Python ${ref.python.version}, numpy ${ref.python.numpy}).`;
  window.demo.ready = true;
}

// ------------------------------------------------------------------------------------------------
// drawing pad -> 8x8 (the load_digits preprocessing: 32x32 bitmap, ink counted in 4x4 blocks)

function setupDrawing() {
  const pad = $('pad');
  const ctx = pad.getContext('2d');
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    state.drawing = null;
    window.demo.drawn = null;
    renderPreview(null);
    showPredictions(null);
  };
  clear();
  let down = false, last = null;
  const pos = (ev) => {
    const r = pad.getBoundingClientRect();
    return [(ev.clientX - r.left) * pad.width / r.width, (ev.clientY - r.top) * pad.height / r.height];
  };
  const stroke = (p) => {
    ctx.strokeStyle = '#fff';
    ctx.fillStyle = '#fff';
    ctx.lineWidth = 18;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    if (last) { ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke(); } else {
      ctx.arc(p[0], p[1], ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fill();
    }
    last = p;
  };
  pad.addEventListener('pointerdown', (ev) => { down = true; last = null; pad.setPointerCapture?.(ev.pointerId); stroke(pos(ev)); });
  pad.addEventListener('pointermove', (ev) => { if (down) stroke(pos(ev)); });
  const up = () => { if (down) { down = false; last = null; classifyPad(); } };
  pad.addEventListener('pointerup', up);
  pad.addEventListener('pointerleave', up);
  $('clear').addEventListener('click', clear);
  $('sample').addEventListener('click', () => {
    const X = state.test.X;
    const i = Math.floor(Math.random() * X.length);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    const cell = pad.width / 8;
    for (let k = 0; k < 64; k++) {
      const v = Math.round(255 * X[i][k] / 16);
      ctx.fillStyle = `rgb(${v},${v},${v})`;
      ctx.fillRect((k % 8) * cell, Math.floor(k / 8) * cell, cell, cell);
    }
    classify(X[i].slice(), `test image ${i} (label ${state.test.y[i]})`);
  });
}

/** Crop the ink, scale it into a 32x32 box (keeping the aspect ratio), count ink in 4x4 blocks. */
function padToDigits(pad) {
  const { width: w, height: h } = pad;
  const img = pad.getContext('2d').getImageData(0, 0, w, h).data;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (img[4 * (y * w + x)] > 64) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const side = Math.max(bw, bh);
  const small = document.createElement('canvas');
  small.width = small.height = 32;
  const sctx = small.getContext('2d');
  sctx.fillStyle = '#000';
  sctx.fillRect(0, 0, 32, 32);
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = 'high';
  const dw = 32 * bw / side, dh = 32 * bh / side;
  sctx.drawImage(pad, x0, y0, bw, bh, (32 - dw) / 2, (32 - dh) / 2, dw, dh);
  const px = sctx.getImageData(0, 0, 32, 32).data;
  const out = new Array(64).fill(0);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
    if (px[4 * (y * 32 + x)] >= 128) out[(y >> 2) * 8 + (x >> 2)] += 1;
  }
  return out;
}

function classifyPad() {
  const pixels = padToDigits($('pad'));
  if (pixels) classify(pixels, 'your drawing');
}

function classify(pixels, what) {
  state.drawing = pixels;
  renderPreview(pixels);
  const preds = {};
  for (const m of state.models) {
    const logits = forward(m.model, pixels, state.ref.model.input_scale);
    const p = softmax(logits);
    const c = argmax(logits);
    preds[m.setting.name] = { class: c, confidence: p[c] };
  }
  window.demo.drawn = { pixels, what, predictions: preds };
  showPredictions(preds, what);
}

function renderPreview(pixels) {
  const c = $('preview'), ctx = c.getContext('2d');
  const cell = c.width / 8;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, c.width, c.height);
  if (!pixels) return;
  for (let k = 0; k < 64; k++) {
    const v = Math.round(255 * pixels[k] / 16);
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.fillRect((k % 8) * cell, Math.floor(k / 8) * cell, cell, cell);
  }
}

function showPredictions(preds, what) {
  for (const m of state.models) {
    const td = document.querySelector(`#row-${m.setting.name} .pred`);
    if (!td) continue;
    const p = preds?.[m.setting.name];
    td.textContent = p ? `${p.class} (${(100 * p.confidence).toFixed(0)} %)` : '\u2013';
  }
  const box = $('prediction');
  if (!preds || !state.models.length) {
    box.innerHTML = '<span class="big">?</span><span class="small">draw a digit</span>';
    return;
  }
  const base = preds[state.models[0].setting.name];
  const votes = Object.values(preds).filter((p) => p.class === base.class).length;
  box.innerHTML = `<span class="big">${base.class}</span><span class="small">${what}: float32 says ${base.class}; ` +
    `${votes} of ${state.models.length} compressed models agree</span>`;
}

// ------------------------------------------------------------------------------------------------
// plots (plain canvas / SVG)

const SVG_NS = 'http://www.w3.org/2000/svg';
function svgEl(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function setupPlots() {
  const sel = $('hist-setting'), lay = $('hist-layer');
  for (const m of state.models) sel.add(new Option(m.setting.label, m.setting.name));
  const def = state.models.find((m) => m.setting.name === 'kmeans3') ?? state.models[0];
  if (def) sel.value = def.setting.name;
  lay.add(new Option('all weight matrices', '*'));
  for (const l of state.ref.model.layers) lay.add(new Option(`${l.name}.weight`, `${l.name}.weight`));
  const redraw = () => drawHistogram(sel.value, lay.value);
  sel.addEventListener('change', redraw);
  lay.addEventListener('change', redraw);
  redraw();
  drawBits();
  drawScatter();
}

function weightValues(m, layer) {
  const names = layer === '*' ? state.ref.model.layers.map((l) => `${l.name}.weight`) : [layer];
  const parts = names.map((n) => m.weights[n]);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return { values: out, names };
}

function drawHistogram(settingName, layer) {
  const canvas = $('hist'), ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, padL = 50, padB = 30, padT = 10, padR = 10;
  ctx.clearRect(0, 0, W, H);
  const base = state.models.find((m) => m.setting.name === 'fp32');
  const cur = state.models.find((m) => m.setting.name === settingName);
  if (!base || !cur) return;
  const { values: a, names } = weightValues(base, layer);
  const { values: b } = weightValues(cur, layer);
  let lo = Infinity, hi = -Infinity;
  for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const lim = Math.max(-lo, hi) * 1.05;
  const bins = 121;
  const hist = (vals) => {
    const h = new Float64Array(bins);
    for (const v of vals) {
      const i = Math.min(bins - 1, Math.max(0, Math.floor((v + lim) / (2 * lim) * bins)));
      h[i]++;
    }
    return h;
  };
  const ha = hist(a), hb = hist(b);
  // log-ish scale so that small tails and the spike at zero both show: sqrt of counts
  const ymax = Math.sqrt(Math.max(...ha, ...hb));
  const xs = (i) => padL + (W - padL - padR) * i / bins;
  const ys = (c) => H - padB - (H - padB - padT) * Math.sqrt(c) / ymax;
  ctx.fillStyle = '#c8c8c8';
  for (let i = 0; i < bins; i++) ctx.fillRect(xs(i), ys(ha[i]), xs(i + 1) - xs(i) - 0.5, H - padB - ys(ha[i]));
  ctx.fillStyle = COLORS[cur.idx % COLORS.length];
  ctx.globalAlpha = 0.6;
  for (let i = 0; i < bins; i++) ctx.fillRect(xs(i) + 1, ys(hb[i]), Math.max(1, xs(i + 1) - xs(i) - 2.5), H - padB - ys(hb[i]));
  ctx.globalAlpha = 1;
  // axes
  ctx.strokeStyle = '#333';
  ctx.beginPath(); ctx.moveTo(padL, padT); ctx.lineTo(padL, H - padB); ctx.lineTo(W - padR, H - padB); ctx.stroke();
  ctx.fillStyle = '#333';
  ctx.font = '11px sans-serif';
  ctx.textAlign = 'center';
  for (const t of [-1, -0.5, 0, 0.5, 1]) {
    const x = padL + (W - padL - padR) * (t * lim + lim) / (2 * lim);
    ctx.fillText((t * lim).toFixed(2), x, H - padB + 14);
  }
  ctx.fillText('weight value', (W + padL) / 2, H - 3);
  ctx.save();
  ctx.translate(12, (H - padB) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText('count (sqrt scale)', 0, 0); ctx.restore();
  // clipping range: max |w| of the tensor(s)
  const amax = Math.max(-lo, hi);
  ctx.setLineDash([4, 4]);
  ctx.strokeStyle = '#d62728';
  for (const s of [-1, 1]) {
    const x = padL + (W - padL - padR) * (s * amax + lim) / (2 * lim);
    ctx.beginPath(); ctx.moveTo(x, padT); ctx.lineTo(x, H - padB); ctx.stroke();
  }
  ctx.setLineDash([]);
  let distinct = new Set(b).size;
  ctx.textAlign = 'left';
  ctx.fillText(`${names.join(', ')}: ${a.length.toLocaleString('en')} weights; ${cur.setting.label}: ${distinct} distinct values`, padL + 8, padT + 12);
}

function drawBits() {
  const host = $('bits');
  host.textContent = '';
  const tensors = state.ref.model.layers.map((l) => `${l.name}.weight`);  // biases stay float32 (fp16 in the fp16 file)
  const W = 760, H = 280, padL = 45, padB = 40, padT = 30, padR = 10;
  const svg = svgEl('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' });
  const groups = tensors.length, per = state.models.length;
  const gw = (W - padL - padR) / groups;
  const bw = (gw - 12) / per;
  const ymax = 32;
  const ys = (v) => H - padB - (H - padB - padT) * Math.min(v, ymax) / ymax;
  for (const t of [0, 4, 8, 16, 24, 32]) {
    svg.append(svgEl('line', { x1: padL, x2: W - padR, y1: ys(t), y2: ys(t), stroke: '#e4e4e4' }));
    svg.append(svgEl('text', { x: padL - 6, y: ys(t) + 4, 'text-anchor': 'end', 'font-size': 11 }, String(t)));
  }
  tensors.forEach((name, g) => {
    state.models.forEach((m, i) => {
      const r = state.results[m.setting.name];
      const t = r.tensors.find((x) => x.name === name);
      const bits = 8 * t.bytes / t.n;
      const x = padL + g * gw + 6 + i * bw;
      const rect = svgEl('rect', { x, y: ys(bits), width: Math.max(1, bw - 1), height: H - padB - ys(bits), fill: COLORS[m.idx % COLORS.length] });
      rect.append(svgEl('title', {}, `${m.setting.label}, ${name}: ${bits.toFixed(3)} bits/entry (${t.bytes} bytes, ${t.coding}, ${t.dtype})`));
      svg.append(rect);
    });
    svg.append(svgEl('text', { x: padL + g * gw + gw / 2, y: H - padB + 16, 'text-anchor': 'middle', 'font-size': 12 }, name));
  });
  svg.append(svgEl('text', { x: 12, y: padT - 12, 'font-size': 11 }, 'bits per weight (coded data + vocabulary + CDF + dequant block)'));
  host.append(svg);
  const legend = document.createElement('div');
  legend.className = 'legend';
  legend.innerHTML = state.models.map((m) => `<span><i style="background:${COLORS[m.idx % COLORS.length]}"></i>${m.setting.label}</span>`).join('');
  host.append(legend);
}

function drawScatter() {
  const host = $('scatter');
  host.textContent = '';
  const W = 760, H = 300, padL = 60, padB = 40, padT = 15, padR = 20;
  const svg = svgEl('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' });
  const pts = state.models.map((m) => ({ m, r: state.results[m.setting.name] }));
  const xmax = Math.max(...pts.map((p) => p.r.bytes)) * 1.1;
  const accs = pts.map((p) => p.r.accuracy);
  const amin = Math.floor(Math.min(...accs) * 100 - 1) / 100, amax = Math.min(1, Math.ceil(Math.max(...accs) * 100 + 0.5) / 100);
  // log x axis: sizes span 8x
  const lx0 = Math.log(Math.min(...pts.map((p) => p.r.bytes)) / 1.3), lx1 = Math.log(xmax);
  const xs = (b) => padL + (W - padL - padR) * (Math.log(b) - lx0) / (lx1 - lx0);
  const ys = (a) => H - padB - (H - padB - padT) * (a - amin) / (amax - amin);
  svg.append(svgEl('line', { x1: padL, x2: padL, y1: padT, y2: H - padB, stroke: '#333' }));
  svg.append(svgEl('line', { x1: padL, x2: W - padR, y1: H - padB, y2: H - padB, stroke: '#333' }));
  for (let a = amin; a <= amax + 1e-9; a += 0.005) {
    svg.append(svgEl('line', { x1: padL, x2: W - padR, y1: ys(a), y2: ys(a), stroke: '#eee' }));
    svg.append(svgEl('text', { x: padL - 6, y: ys(a) + 4, 'text-anchor': 'end', 'font-size': 11 }, (100 * a).toFixed(1) + '%'));
  }
  for (const kb of [5, 10, 20, 40, 80]) {
    const b = kb * 1000;
    if (Math.log(b) < lx0 || Math.log(b) > lx1) continue;
    svg.append(svgEl('text', { x: xs(b), y: H - padB + 16, 'text-anchor': 'middle', 'font-size': 11 }, `${kb} kB`));
  }
  svg.append(svgEl('text', { x: (W + padL) / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 12 }, 'file size (log scale)'));
  // obstacles: every point, then each label as it is placed
  const placed = pts.map(({ r }) => ({ x: xs(r.bytes) - 7, y: ys(r.accuracy) + 4, w: 14 }));
  const order = pts.map((p, i) => i).sort((a, b) => ys(pts[a].r.accuracy) - ys(pts[b].r.accuracy));
  for (const i of order) {
    const { m, r } = pts[i];
    const cx = xs(r.bytes), cy = ys(r.accuracy);
    const c = svgEl('circle', { cx, cy, r: 6, fill: COLORS[m.idx % COLORS.length] });
    c.append(svgEl('title', {}, `${m.setting.label}: ${r.bytes} bytes, ${pct(r.accuracy)}`));
    svg.append(c);
    // nudge the label down until it clears the labels already placed
    const w = 6.2 * m.setting.label.length;
    let ly = cy + 4;
    while (placed.some((p) => Math.abs(p.y - ly) < 12 && cx + 9 < p.x + p.w && p.x < cx + 9 + w)) ly += 12;
    if (ly !== cy + 4) svg.append(svgEl('line', { x1: cx + 4, y1: cy + 3, x2: cx + 9, y2: ly - 4, stroke: '#999' }));
    placed.push({ x: cx + 9, y: ly, w });
    svg.append(svgEl('text', { x: cx + 9, y: ly, 'font-size': 11 }, m.setting.label));
  }
  host.append(svg);
}

// ------------------------------------------------------------------------------------------------
// the seed notebook's layout

function setupSeed() {
  const info = state.ref.seed_layout ?? {};
  const small = info.small, full = info.full;
  $('seed-small').disabled = !small;
  $('seed-full').disabled = !full;
  if (!small) {
    $('seed-small').textContent = 'seed layout not built (anspack.seedbin missing)';
    return;
  }
  $('seed-small').textContent = `decode ${small.matrices} \u00d7 ${small.rows} \u00d7 ${small.cols}`;
  $('seed-small').addEventListener('click', () => runSeed('small', small, small.checksums));
  if (full) $('seed-full').textContent = `decode ${full.matrices} \u00d7 ${full.rows} \u00d7 ${full.cols} (built on the server on first use)`;
  $('seed-full').addEventListener('click', async () => {
    $('seed-full').disabled = true;
    $('seed-full').textContent = 'building / fetching the full file\u2026';
    try {
      // the .bin request builds the file (and seed-full.json, its checksums) on the server the first time
      await runSeed('full', full, undefined);
    } finally {
      $('seed-full').disabled = false;
      $('seed-full').textContent = `decode ${full.matrices} \u00d7 ${full.rows} \u00d7 ${full.cols} again`;
    }
  });
}

async function runSeed(which, info, checksums) {
  const tbody = document.querySelector('#seed-results tbody');
  $(`seed-row-${which}`)?.remove();
  const tr = document.createElement('tr');
  tr.id = `seed-row-${which}`;
  tr.innerHTML = `<td>${info.matrices} \u00d7 ${info.rows} \u00d7 ${info.cols}</td><td colspan="6">fetching\u2026</td>`;
  tbody.appendChild(tr);
  try {
    const t0 = performance.now();
    const resp = await fetch(DATA + info.file, { cache: 'no-store' });
    if (!resp.ok) throw new Error(`${info.file}: HTTP ${resp.status}`);
    const buf = await resp.arrayBuffer();
    const fetchMs = performance.now() - t0;
    if (!checksums) {
      const r2 = await fetch(DATA + 'seed-full.json', { cache: 'no-store' });
      if (r2.ok) checksums = (await r2.json()).checksums;
    }
    tr.innerHTML = `<td>${info.matrices} \u00d7 ${info.rows} \u00d7 ${info.cols}</td><td colspan="6">decoding\u2026</td>`;
    await new Promise((r) => setTimeout(r, 0));
    const t1 = performance.now();
    const res = decodeSeedLayout(buf, { matrices: info.matrices, rows: info.rows, cols: info.cols });
    const ms = performance.now() - t1;
    const got = Array.from(res.checksums);
    const ok = checksums && got.length === checksums.length && got.every((c, i) => c === checksums[i]);
    const n = info.matrices * info.rows * info.cols;
    tr.innerHTML = `<td>${info.matrices} \u00d7 ${info.rows} \u00d7 ${info.cols}</td>
      <td class="num">${buf.byteLength.toLocaleString('en')}</td><td class="num">${fmt(8 * buf.byteLength / n, 3)}</td>
      <td class="num">${fmt(fetchMs, 1)}</td><td class="num">${fmt(ms, 1)}</td>
      <td class="num">${fmt(n / ms / 1e3, 1)} M entries/s, ${fmt(buf.byteLength / ms / 1e3, 1)} MB/s</td>
      <td class="${ok ? 'ok' : 'bad'}">${ok ? `\u2713 ${got.length} match Python` : '\u2717 checksums differ'}</td>`;
    window.demo.seed[which] = { matrices: info.matrices, rows: info.rows, cols: info.cols, ms, fetchMs, bytes: buf.byteLength, entries: n, checksums: got, ok };
  } catch (e) {
    tr.innerHTML = `<td>${info.matrices} \u00d7 ${info.rows} \u00d7 ${info.cols}</td><td colspan="6" class="bad">error: ${e.code ?? ''} ${e.message}</td>`;
    window.demo.seed[which] = { error: `${e.code ?? ''} ${e.message}` };
  }
}

main().catch((e) => {
  window.demo.error = `${e.code ? e.code + ': ' : ''}${e.message}`;
  setStatus('error: ' + window.demo.error, 'bad');
  window.demo.ready = true;
});
