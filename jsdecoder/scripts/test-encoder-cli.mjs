// Encode tensors described in a JSON file with the JS test encoder (test/helpers/encoder.js) and write
// the .anspack bytes: node test-encoder-cli.mjs IN.json OUT.anspack. Used by tests/test_js_encoder_bytes.py
// to check that an independent implementation of spec sections 3-11 writes the same bytes as Python.
// IN.json: {"metadata": {...} | null, "tensors": [{"name", "dtype", "shape", "data", "lanes", "precision", "raw",
//   "pairs" (spec 7.1), "product" (PRODUCT pairs, spec 7.3), "chunk" (Q, spec 7.2), "groups" (coding 2,
//   spec 7.4: the row map, one group id per row; each group coded with the tensor's options)}]}
import { readFileSync, writeFileSync } from 'node:fs';
import { encodeFile } from '../test/helpers/encoder.js';

const [input, output] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(input, 'utf8'));
writeFileSync(output, encodeFile(spec.tensors, spec.metadata ?? null));
