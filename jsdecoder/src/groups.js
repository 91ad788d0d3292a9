// Row groups (spec/FORMAT.md section 7.4, coding 2): placing the rows of decoded group tensors.
//
// A coding-2 tensor's R rows (C = n / R entries each) are split into G groups by its row map; group
// g's tensor is its rows in increasing row order, back to back, coded as a coding-0 sub-block. Every
// decoder here decodes a group tensor (or a piece of it: a range of a chunked sub-block's chunks)
// as it decodes any coding-0 block, then moves its rows to their places, never adding work to the
// decode loops: decode() decodes all groups into the output back to back and permutes the rows in
// place (permuteRows); decodeAsync and decodeGPU copy each piece that comes back to its rows
// (placeGroupPiece: one copy per run of rows that are consecutive in both).
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

/**
 * Put the rows of a coding-2 tensor in place when `out` holds the group tensors back to back (group
 * 0's n_0 entries, then group 1's, ...: rows in rowOrder order): afterwards row r holds what was at
 * position rowPos[r]. In place, by following the permutation's cycles (each row moved once, with
 * one row of scratch), so a decoder can decode every sub-block straight into the output and needs
 * no second array of the tensor's size.
 *
 * @param {object} t  a coding-2 tensor info (header.js parseGroupsBlock: rowSize, rowPos)
 * @param {ArrayBufferView} out  the tensor's n entries
 */
export function permuteRows(t, out) {
  const C = t.rowSize, pos = t.rowPos, R = pos.length;
  const done = new Uint8Array(R);
  let tmp = null;
  for (let r0 = 0; r0 < R; r0++) {
    if (done[r0]) continue;
    done[r0] = 1;
    if (pos[r0] === r0) continue;
    // the cycle through r0: row r takes the row at pos[r], until the one that takes r0's (saved)
    if (tmp === null) tmp = new out.constructor(C);
    tmp.set(out.subarray(r0 * C, r0 * C + C));
    let r = r0;
    for (let s = pos[r]; s !== r0; s = pos[r]) {
      out.copyWithin(r * C, s * C, s * C + C);
      r = s;
      done[r] = 1;
    }
    out.set(tmp, r * C);
  }
}
