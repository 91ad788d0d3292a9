// Row groups (spec/FORMAT.md section 7.4, coding 2): placing the rows of decoded group tensors.
//
// A coding-2 tensor's R rows (C = n / R entries each) are split into G groups by its row map; group
// g's tensor is its rows in increasing row order, back to back, coded as a coding-0 sub-block. Every
// decoder here decodes a group tensor (or a piece of it: a range of a chunked sub-block's chunks)
// as it decodes any coding-0 block, then moves its rows to their places, never adding work to the
// decode loops: decode() with the WebAssembly engine has the loops write each run of a group's rows
// (rowRuns) where it lies, in an image of the tensor in WebAssembly memory (index.js
// decodeGroupsInPlace), where it can; otherwise it decodes all groups back to back into a temporary
// array and copies the rows out in the output's order (gatherRows); decodeAsync and decodeGPU copy each piece that comes back
// to its rows (placeGroupPiece). Both make one copy per run of rows that are consecutive in both.
// header.js parseGroupsBlock gives the tensor info these functions read (rowSize, rowOrder,
// groupStart, groups).

/**
 * Copy entries [a, a + src.length) of group g's tensor (spec section 7.4) to their places in `out`
 * (the whole tensor's n entries): row j of the group tensor is row rowOrder[groupStart[g] + j] of the
 * tensor (rowIndex). `src` may start or end inside a row (a piece of a chunked sub-block).
 *
 * @param {object} t  a coding-2 tensor info (header.js parseGroupsBlock)
 * @param {number} g  the group
 * @param {ArrayBufferView} src  entries of group g's tensor, of out's element type
 * @param {number} a  the group-tensor index of src[0]
 * @param {ArrayBufferView} out  the tensor's entries
 */
export function placeGroupPiece(t, g, src, a, out) {
  const C = t.rowSize, order = rowIndex(t).rowOrder, base = t.groupStart[g];
  const end = a + src.length;
  let pos = a;
  let j = Math.floor(a / C);
  while (pos < end) {
    const j0 = j, r0 = order[base + j];
    let stop = Math.min(end, (j + 1) * C);
    // extend over the following rows while they are whole and next to each other in the tensor too
    while (stop === (j + 1) * C && stop < end && order[base + j + 1] === order[base + j] + 1) {
      j++;
      stop = Math.min(end, (j + 1) * C);
    }
    const dst = r0 * C + (pos - j0 * C);
    if (stop - pos === src.length) out.set(src, dst);
    else out.set(src.subarray(pos - a, stop - a), dst);
    if (stop === (j + 1) * C) j++;
    pos = stop;
  }
}

/**
 * Put the rows of a coding-2 tensor in their places: `src` holds the group tensors back to back
 * (group 0's n_0 entries, then group 1's, ...: the rows in rowOrder order), and row r of `out` gets
 * row rowPos[r] of `src`, one copy per run of rows consecutive in both. `out` is written in order
 * (the reads jump): in node, for all-MiniLM-L6-v2's 30522 x 384 word embeddings in 4 groups, 2.3 ms
 * against 5.3 ms for writing each group's rows where they go (placeGroupPiece) and 7.9 ms for
 * permuting the rows in place along the permutation's cycles (best of 12; decode() of the tensor
 * in all, from fresh arrays, best of 40: 18.0 ms, 20.6 ms from a scratch of the largest group, 21.9
 * ms in place; 14.1 ms as one coding-0 block).
 *
 * @param {object} t  a coding-2 tensor info (header.js parseGroupsBlock)
 * @param {ArrayBufferView} src  the group tensors back to back (n entries)
 * @param {ArrayBufferView} out  the tensor's n entries (of src's element type)
 */
export function gatherRows(t, src, out) {
  const C = t.rowSize, pos = rowIndex(t).rowPos, R = pos.length;
  for (let r = 0; r < R;) {
    const s = pos[r];
    let e = r + 1;
    while (e < R && pos[e] === s + (e - r)) e++;
    out.set(src.subarray(s * C, (s + e - r) * C), r * C);
    r = e;
  }
}

/**
 * Group g's rows as runs of rows adjacent in the tensor: a Float64Array of pairs (byte offset of
 * the run in the tensor, its symbols), `rowBytes` bytes a row, `size` bytes a symbol.
 */
export function rowRuns(t, g, rowBytes, size) {
  const order = rowIndex(t).rowOrder, a = t.groupStart[g], b = t.groupStart[g + 1];
  const runs = [];
  for (let j = a; j < b;) {
    let e = j + 1;
    while (e < b && order[e] === order[e - 1] + 1) e++;
    runs.push(order[j] * rowBytes, (e - j) * rowBytes / size);
    j = e;
  }
  return Float64Array.from(runs);
}

/**
 * The row indexes of a coding-2 tensor info, built on first use and kept on it (parsing a file does
 * not need them): `rowOrder` (Uint32Array of the R rows by group: group 0's rows in increasing
 * order, then group 1's, ...) and its inverse `rowPos` (row r is row rowPos[r] of the group tensors
 * back to back). A counting sort of the row map.
 */
export function rowIndex(t) {
  if (t.rowPos === undefined) {
    const map = t.rowMap, R = map.length;
    const next = t.groupStart.slice(0, t.groupStart.length - 1);
    const rowOrder = new Uint32Array(R), rowPos = new Uint32Array(R);
    for (let r = 0; r < R; r++) {
      const q = next[map[r]]++;
      rowPos[r] = q;
      rowOrder[q] = r;
    }
    t.rowOrder = rowOrder;
    t.rowPos = rowPos;
  }
  return t;
}
