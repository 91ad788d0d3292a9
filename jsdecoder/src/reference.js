// The readable reference rANS decoder: spec/FORMAT.md section 10's pseudo-code, line for line,
// with plain Numbers and a linear search for the symbol. Slow; used by the tests to check the fast
// path (src/rans.js + src/rans_fast.js) and as documentation. Same inputs and result as decodeRans,
// plus the decoded ids.

/**
 * @param {{states: ArrayLike<number>, words: ArrayLike<number>, cdf: ArrayLike<number>, P: number, n: number}} m
 * @param {ArrayLike<number>} values  the vocabulary
 * @returns {{ids: number[], values: number[], checksum: number, status: string, wordsRead: number, lane: number}}
 */
export function decodeRansReference({ states, words, cdf, P, n }, values) {
  const L = states.length;
  const W = words.length;
  const M = 2 ** P;
  const state = Array.from(states, Number);
  const ids = [];
  const out = [];
  let k = 0;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const j = i % L;
    let x = state[j];
    const slot = x % M;
    let s = 0;
    while (!(cdf[s] <= slot && slot < cdf[s + 1])) s++;
    const f = cdf[s + 1] - cdf[s];
    x = f * Math.floor(x / M) + slot - cdf[s];
    if (x < 2 ** 16) {
      if (k === W) return { ids, values: out, checksum: h, status: 'underrun', wordsRead: k, lane: j, entry: i };
      x = x * 65536 + words[k];
      k += 1;
    }
    state[j] = x;
    ids.push(s);
    out.push(values[s]);
    // FxHash26 (section 11).
    h = (h % 2 ** 21) * 32 + Math.floor(h / 2 ** 21);
    // h < 2^26 and s < 2^15, so (h ^ s) * 0x03220A95 < 2^52 is exact in a double.
    h = ((h ^ s) * 0x03220a95) % 2 ** 26;
  }
  if (k !== W) return { ids, values: out, checksum: h, status: 'leftover', wordsRead: k, lane: -1 };
  for (let j = 0; j < L; j++) {
    if (state[j] !== 2 ** 16) return { ids, values: out, checksum: h, status: 'badFinalState', wordsRead: k, lane: j };
  }
  return { ids, values: out, checksum: h, status: 'ok', wordsRead: k, lane: -1 };
}
