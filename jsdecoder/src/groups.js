// Row groups (spec/FORMAT.md section 7.4, coding 2): placing the rows of a decoded group tensor.
//
// A coding-2 tensor's R rows (C = n / R entries each) are split into G groups by its row map; group
// g's tensor is its rows in increasing row order, back to back, coded as a coding-0 sub-block. Every
// decoder here decodes a group tensor (or a piece of it: a range of a chunked sub-block's chunks)
// as it decodes any coding-0 block, then copies its rows to their places in the tensor with
// placeGroupPiece: one copy per run of rows that are consecutive in both, no per-entry work.
// header.js parseGroupsBlock gives the tensor info these functions read (rowSize, rowOrder,
// groupStart, groups).

/**
 * Copy entries [a, a + src.length) of group g's tensor (spec section 7.4) to their places in `out`
 * (the whole tensor's n entries): row j of the group tensor is row rowOrder[groupStart[g] + j] of the
 * tensor. `src` may start or end inside a row (a piece of a chunked sub-block).
 *
 * @param {object} t  a coding-2 tensor info (header.js parseGroupsBlock)
 * @param {number} g  the group
 * @param {ArrayBufferView} src  entries of group g's tensor, of out's element type
 * @param {number} a  the group-tensor index of src[0]
 * @param {ArrayBufferView} out  the tensor's entries
 */
export function placeGroupPiece(t, g, src, a, out) {
  const C = t.rowSize, order = t.rowOrder, base = t.groupStart[g];
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

/** Number of entries of the largest group tensor of a coding-2 tensor (the scratch a decoder needs). */
export function largestGroup(t) {
  let m = 0;
  for (const sub of t.groups) if (sub.n > m) m = sub.n;
  return m;
}
