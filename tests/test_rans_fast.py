"""The fast rANS encoder (register-resident lanes for L = 1, 2, 4, 8, branch-free renormalization,
reciprocal instead of division) against a plain transcription of spec/FORMAT.md section 10."""

import numpy as np
import pytest

from anspack.model import build_model
from anspack.checksum import fxhash26_reference
from anspack.rans import (OK, STATE_LOW, decode_interleaved, encode_interleaved, encode_interleaved_checksum,
                         encoder_table)


def reference_encode(ids, freqs, cdf, P, L):
    """Spec section 10 'Encoding', line by line, in Python integers."""
    state = [STATE_LOW] * L
    E = []
    M = 1 << P
    for i in range(len(ids) - 1, -1, -1):
        j = i % L
        x = state[j]
        s = int(ids[i])
        f = int(freqs[s])
        x_max = (1 << (32 - P)) * f
        if x >= x_max:
            E.append(x & 0xFFFF)
            x = x >> 16
        x = (x // f) * M + (x % f) + int(cdf[s])
        state[j] = x
    return np.array(state, dtype=np.uint32), np.array(E[::-1], dtype=np.uint16)


def _check(ids, freqs, cdf, P, L):
    states, words = encode_interleaved(ids, freqs, cdf, P, L)
    ref_states, ref_words = reference_encode(ids, freqs, cdf, P, L)
    assert states.dtype == np.uint32 and words.dtype == np.uint16
    assert states.tolist() == ref_states.tolist(), (P, L, ids.size)
    assert words.size == ref_words.size and bool((words == ref_words).all()), (P, L, ids.size)
    states2, words2, h = encode_interleaved_checksum(ids, freqs, cdf, P, L)
    assert states2.tolist() == ref_states.tolist() and words2.tolist() == ref_words.tolist()
    assert h == fxhash26_reference(ids), (P, L, ids.size)
    if ids.size >= L:
        back, _, status, _ = decode_interleaved(states, words, cdf, P, ids.size)
        assert status == OK and bool((back == ids).all())


def _data(rng, kind, n):
    if kind == "single":
        return np.full(n, -3, dtype=np.int8)
    if kind == "two":
        return rng.choice(np.array([5, -7], dtype=np.int8), size=n, p=[0.93, 0.07])
    if kind == "gauss":
        return np.clip(np.round(rng.standard_normal(n) * 6), -128, 127).astype(np.int8)
    if kind == "wide":  # many symbols, some of them rare (f = 1 after rounding at low P)
        return (rng.integers(0, 3000, size=n) ** 2 % 1999).astype(np.int16)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["single", "two", "gauss", "wide"])
@pytest.mark.parametrize("P", [1, 2, 5, 11, 12, 15])
def test_fast_encoder_matches_spec_loop(kind, P):
    rng = np.random.default_rng([P, len(kind)])
    for n in (1, 2, 3, 7, 8, 9, 17, 100, 1001):
        a = _data(rng, kind, n)
        if np.unique(a).size > (1 << P):
            continue
        m = build_model(a, P)
        for L in range(1, 10):
            if L <= n:
                _check(m.ids, m.freqs, m.cdf, P, L)


@pytest.mark.parametrize("P", [1, 3, 12, 15])
def test_extreme_frequencies(P):
    """f = 1 next to f = 2^P - V + 1 (the largest), long runs of the rare symbol: every renormalization
    and reciprocal edge is exercised."""
    rng = np.random.default_rng(P)
    M = 1 << P
    for V in (1, 2, 3):
        if V > M:
            continue
        freqs = np.ones(V, dtype=np.int64)
        freqs[0] = M - (V - 1)
        cdf = np.zeros(V + 1, dtype=np.int64)
        np.cumsum(freqs, out=cdf[1:])
        cdf = cdf.astype(np.uint16) if P < 16 else cdf
        for n in (5, 64, 999):
            ids = rng.integers(0, V, size=n).astype(np.uint16)
            ids[: n // 3] = V - 1  # a run of the rarest symbol: a word per symbol
            for L in (1, 2, 3, 4, 5, 8, 9):
                if L <= n:
                    _check(ids, freqs, cdf, P, L)


def test_fewer_symbols_than_lanes():
    """A chunk shorter than L (spec section 7.2): lanes without a symbol stay at 2^16."""
    m = build_model(np.array([1, 2, 2, 3, 2, 2, 2], dtype=np.int8), 12)
    for n in range(1, 7):
        for L in range(n + 1, 10):
            states, words = encode_interleaved(m.ids[:n], m.freqs, m.cdf, 12, L)
            ref_states, ref_words = reference_encode(m.ids[:n], m.freqs, m.cdf, 12, L)
            assert states.tolist() == ref_states.tolist() and words.tolist() == ref_words.tolist()
            assert states[n:].tolist() == [STATE_LOW] * (L - n)
            states2, words2, h = encode_interleaved_checksum(m.ids[:n], m.freqs, m.cdf, 12, L)
            assert states2.tolist() == states.tolist() and words2.tolist() == words.tolist()
            assert h == fxhash26_reference(m.ids[:n])


def test_empty():
    states, words = encode_interleaved(np.zeros(0, np.uint16), np.zeros(0, np.int64), np.zeros(0, np.uint16), 12, 0)
    assert states.size == 0 and words.size == 0
    states, words, h = encode_interleaved_checksum(np.zeros(0, np.uint16), np.zeros(0, np.int64),
                                                   np.zeros(0, np.uint16), 12, 0)
    assert states.size == 0 and words.size == 0 and h == 0


def test_model_checksum_is_the_hash_of_its_ids():
    rng = np.random.default_rng(7)
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32):
        a = rng.integers(0, 40, size=3001).astype(dtype)
        m = build_model(a, 12)
        assert m.checksum == fxhash26_reference(m.ids) == m.checksum
        with pytest.raises(AttributeError):
            m.ids = None


@pytest.mark.parametrize("P", [1, 4, 8, 12, 15])
def test_reciprocal_is_exact_division(P):
    """``(x * rcp) >> (32+P) == x // f`` without 64-bit overflow for every f in [1, 2^P] and the
    states the encoder divides (``x < 2^(32-P) f``), at the edges of every quotient step."""
    M = 1 << P
    freqs = np.arange(1, M + 1, dtype=np.int64)
    cdf = np.zeros(M + 1, dtype=np.int64)  # only freqs matter for the reciprocal
    t = encoder_table(freqs, cdf, P)
    rcp = t[1::4]
    step = max(1, M // 2048)
    for f in list(range(1, M + 1, step)) + [M - 1, M]:
        r = int(rcp[f - 1])
        x_max = f << (32 - P)
        assert int(t[4 * (f - 1)]) == x_max and int(t[4 * (f - 1) + 3]) == M - f
        for x in {0, 1, f - 1, f, 2 * f - 1, STATE_LOW - 1, x_max - f, x_max - f - 1, x_max - 1,
                  (x_max // 2 // f) * f, (x_max // 2 // f) * f - 1}:
            if 0 <= x < x_max:
                assert x * r < 1 << 64
                assert (x * r) >> (32 + P) == x // f, (P, f, x)


def reference_decode(states, words, cdf, P, n):
    """Spec section 10 'Decoding' with its end checks, in Python integers:
    (ids, status, where) with the status codes of anspack.rans."""
    from anspack.rans import BAD_FINAL_STATE, LEFTOVER, UNDERRUN
    L = len(states)
    state = [int(x) for x in states]
    cdf = [int(c) for c in cdf]
    M = 1 << P
    k = 0
    ids = []
    for i in range(n):
        j = i % L
        x = state[j]
        slot = x & (M - 1)
        s = next(t for t in range(len(cdf) - 1) if cdf[t] <= slot < cdf[t + 1])
        x = (cdf[s + 1] - cdf[s]) * (x >> P) + slot - cdf[s]
        if x < 1 << 16:
            if k == len(words):
                return ids, UNDERRUN, i
            x = (x << 16) | int(words[k])
            k += 1
        state[j] = x
        ids.append(s)
    if k != len(words):
        return ids, LEFTOVER, k
    for lane in range(L):
        if state[lane] != 1 << 16:
            return ids, BAD_FINAL_STATE, lane
    return ids, OK, 0


@pytest.mark.parametrize("L", [1, 2, 3, 4, 8, 9])
def test_decoder_matches_spec_loop_on_good_and_corrupt_streams(L):
    rng = np.random.default_rng(L)
    for P, a in ((12, np.round(rng.standard_normal(777) * 5).astype(np.int8)),
                 (15, rng.integers(0, 3, size=500).astype(np.int16)),
                 (3, np.array([1] * 60 + [2] * 3, dtype=np.uint8))):
        m = build_model(a, P)
        n = m.ids.size
        states, words = encode_interleaved(m.ids, m.freqs, m.cdf, P, L)
        flipped = words.copy()
        if flipped.size:
            flipped[flipped.size // 2] ^= 0x0101
        cases = [(states, words), (states, words[:-1]), (states, np.append(words, np.uint16(9))),
                 (states ^ np.uint32(1), words), (states, words[1:]), (states, flipped)]
        for st, w in cases:
            ids, h, status, where = decode_interleaved(st, w, m.cdf, P, n)
            ref_ids, ref_status, ref_where = reference_decode(st, w, m.cdf, P, n)
            assert (status, where) == (ref_status, ref_where)
            assert ids[:len(ref_ids)].tolist() == ref_ids
            if status == OK:
                assert h == fxhash26_reference(ref_ids) and ref_ids == m.ids.tolist()
