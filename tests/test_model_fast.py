"""The entropy model's fast paths (4-way histograms, histogram reuse, 4-byte tensors of a small range)
against a plain transcription of spec/FORMAT.md section 9 with np.unique."""

import numpy as np
import pytest

from anspack.checksum import fxhash26_reference
from anspack.model import build_model, histogram, quantize_counts


def spec_quantize(c, n, P):
    """Spec section 9 steps 2 and 3 as written: rounding, then the fix-up passes one by one."""
    f = []
    for ck in c:
        q, r = divmod(ck << P, n)
        f.append(max(1, q + 1 if (2 * r > n or (2 * r == n and q % 2 == 1)) else q))
    d = sum(f) - (1 << P)
    while d > 0:
        for s in range(len(f)):
            if d == 0:
                break
            if f[s] > 1:
                f[s] -= 1
                d -= 1
    while d < 0:
        for s in range(len(f)):
            if d == 0:
                break
            f[s] += 1
            d += 1
    return f


def reference_model(a, P):
    """Spec section 9 steps 1-4, in Python integers."""
    flat = np.asarray(a).reshape(-1)
    uniq, counts = np.unique(flat, return_counts=True)
    order = sorted(range(uniq.size), key=lambda k: (-int(counts[k]), int(uniq[k])))
    values = [int(uniq[k]) for k in order]
    c = [int(counts[k]) for k in order]
    f = spec_quantize(c, flat.size, P)
    rank = {v: s for s, v in enumerate(values)}
    ids = [rank[int(v)] for v in flat]
    return values, c, f, ids


def _same(m, a, P):
    values, counts, freqs, ids = reference_model(a, P)
    assert m.values.tolist() == values and m.counts.tolist() == counts and m.freqs.tolist() == freqs
    assert m.cdf.tolist() == [0] + np.cumsum(freqs).tolist()
    assert m.ids.tolist() == ids and m.checksum == fxhash26_reference(ids)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32])
def test_model_matches_spec(dtype):
    rng = np.random.default_rng(np.dtype(dtype).itemsize)
    info = np.iinfo(dtype)
    cases = [
        np.full(7, info.min, dtype=dtype),
        np.full(5, info.max, dtype=dtype),
        rng.choice(np.array([info.min, info.max], dtype=dtype), size=1001),  # the range's two ends
        np.clip(np.round(rng.standard_normal(4099) * 9), max(info.min, -128), 127).astype(dtype),
    ]
    if np.dtype(dtype).itemsize == 4:  # wide ranges take np.unique, narrow ones the histogram
        cases.append((rng.integers(0, 300, size=2000) * 7919).astype(dtype))  # span > 2^16
        cases.append((rng.integers(0, 300, size=2000) + (info.max - 400)).astype(dtype))  # near the top
    for a in cases:
        _same(build_model(a, 12), a, 12)


def test_histogram_and_counts_reuse():
    rng = np.random.default_rng(5)
    for dtype in (np.int8, np.uint8, np.int16, np.uint16):
        info = np.iinfo(dtype)
        for n in (1, 3, 4, 5, 1003):
            a = rng.integers(info.min, int(info.max) + 1, size=n).astype(dtype)
            h = histogram(a)
            assert h.tolist() == np.bincount(a.astype(np.int64) - int(info.min),
                                             minlength=int(info.max) - int(info.min) + 1).tolist()
            m = build_model(a, 15, counts=h)
            _same(m, a, 15)
    a = np.arange(10, dtype=np.int8)
    with pytest.raises(ValueError):
        build_model(a, 12, counts=histogram(a[:5]))
    with pytest.raises(TypeError):
        histogram(np.zeros(3, np.int32))


def test_fix_up_passes_counted_not_replayed():
    """quantize_counts counts step 3's passes (bisection over full passes, then one partial pass):
    the same frequencies as the passes one by one, for sums far above and below 2^P."""
    rng = np.random.default_rng(11)
    cases = [
        ([10**6] + [1] * 200, 10**6 + 200, 8),  # one dominant value, 200 rare ones: d > 0 over many passes
        ([1] * 255 + [5], 260, 8),  # all round to 1 or 5 of 256: d > 0
        ([3] * 7, 21, 4),  # 16/7 each rounds to 2: d < 0
        ([1] * 1000, 1000, 12),  # 4.096 each rounds to 4: d < 0, 96 short
    ]
    for _ in range(200):
        P = int(rng.integers(1, 16))
        V = int(rng.integers(1, min(1 << P, 300) + 1))
        c = (rng.pareto(0.7, size=V) * 3 + 1).astype(np.int64) if rng.random() < 0.5 else rng.integers(1, 50, size=V)
        cases.append((c.tolist(), int(c.sum()), P))
    for c, n, P in cases:
        assert quantize_counts(c, n, P).tolist() == spec_quantize(c, n, P), (c[:5], n, P)
