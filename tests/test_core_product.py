"""PRODUCT pairs (spec section 7.3, revision 3) in the Python encoder and decoder: the block stores the
entries' model, the coder uses the pair model derived from it. The oracles below transcribe the spec's
text line by line (slow), independent of anspack.model's numpy code."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import anspack
from anspack.checksum import fxhash26_reference
from anspack.model import product_freqs, product_values

from test_core_chunks import parse_block, reference_encode, roundtrip
from test_model_fast import spec_quantize


def spec_pair_model(values, g, P):
    """Section 7.3: pair id a*V + b, counts g[a]*g[b] with n = 2^(2P), pair value low byte values[a]."""
    V = len(g)
    counts = [g[a] * g[b] for a in range(V) for b in range(V)]
    f = spec_quantize(counts, 2 ** (2 * P), P)
    cdf = [0]
    for x in f:
        cdf.append(cdf[-1] + x)
    pair_values = [(values[a] & 0xFF) | (values[b] & 0xFF) << 8 for a in range(V) for b in range(V)]
    return f, cdf, pair_values


def spec_entry_model(flat, P):
    """Section 9 over the entries: vocabulary by count descending, ties by value ascending."""
    vals, counts = np.unique(flat, return_counts=True)
    order = sorted(range(vals.size), key=lambda i: (-counts[i], vals[i]))
    values = [int(vals[i]) for i in order]
    g = spec_quantize([int(counts[i]) for i in order], flat.size, P)
    return values, g


@pytest.mark.parametrize("seed", range(6))
def test_derived_pair_frequencies_follow_the_spec(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        P = int(rng.integers(2, 16))
        V = int(rng.integers(1, int(2 ** (P / 2)) + 1))
        # random entry frequencies summing to 2^P, each >= 1
        cuts = np.sort(rng.choice(np.arange(1, 2**P), size=V - 1, replace=False)) if V > 1 else np.array([], int)
        g = np.diff(np.concatenate([[0], cuts, [2**P]])).tolist()
        f, _, _ = spec_pair_model([0] * V, g, P)
        assert product_freqs(g, P).tolist() == f
        assert sum(f) == 2**P and min(f) >= 1


def test_pair_values_and_vocabulary_limit():
    v = np.array([-128, 127, 0, -1], dtype=np.int8)
    assert product_values(v).tolist() == spec_pair_model(v.tolist(), [1] * 4, 4)[2]
    assert product_freqs([2**7] * 2, 8).tolist() == [2**6] * 4
    with pytest.raises(ValueError, match="V\\^2"):
        product_freqs([1] * 5, 4)  # 25 > 16


@pytest.mark.parametrize("dtype,L,P,Q", [(np.int8, 1, 8, 0), (np.int8, 3, 10, 0), (np.uint8, 8, 12, 0),
                                         (np.int8, 5, 14, 64), (np.uint8, 2, 15, 7), (np.int8, 9, 9, 100)])
def test_product_blocks_are_the_spec_encoders_bytes(dtype, L, P, Q):
    rng = np.random.default_rng(L * P + Q)
    base = np.round(rng.standard_normal(1000) * 2.5)
    a = (np.clip(base, -7, 7) if dtype == np.int8 else np.clip(base + 4, 0, 9)).astype(dtype)
    data = roundtrip({"a": a}, pairs="product", lanes=L, precision=P, chunk=Q)
    t = anspack.read_header(data)["a"]
    assert t.pairs and t.product and t.symbols == 500
    blk = parse_block(data, t)
    assert blk["mode"] == 3
    values, g = spec_entry_model(a, P)
    V = len(values)
    assert blk["V"] == V == t.vocab_size
    # the block stores the entries' model: V one-byte values, then the entries' CDF
    at = t.data_offset + 24 + 4 * t.lanes * t.chunks + (8 * t.chunks if Q else 0)
    assert list(struct.unpack_from(f"<{V}b" if dtype == np.int8 else f"<{V}B", data, at)) == values
    cdf_at = at + V + (V & 1)
    assert list(struct.unpack_from(f"<{V + 1}H", data, cdf_at)) == np.concatenate([[0], np.cumsum(g)]).tolist()
    # the stream codes pair ids a*V + b with the derived model, chunk by chunk (section 10)
    f, cdf, _ = spec_pair_model(values, g, P)
    rank = {v: i for i, v in enumerate(values)}
    ids = [rank[int(x)] * V + rank[int(y)] for x, y in zip(a[0::2], a[1::2])]
    states, words, sums = [], [], []
    for k in range(t.chunks):
        lo, hi = t.chunk_bounds(k)
        s, w = reference_encode(ids[lo:hi], f, cdf, P, t.lanes)
        states += s
        words += w
        sums.append(fxhash26_reference(ids[lo:hi]))
    assert blk["states"] == states and blk["words"] == words
    assert t.checksum == (fxhash26_reference(sums) if Q else sums[0])
    if Q:
        assert blk["chunk_checksums"] == sums


def test_decoder_derives_the_pair_model_from_the_stored_one():
    a = np.array([0, 0, 0, 5, 5, 0, -3, 0] * 50, dtype=np.int8)
    data = anspack.encode({"a": a}, pairs="product", precision=6, lanes=2)
    t = anspack.read_header(data)["a"]
    r = anspack.container.rans_arrays(memoryview(data), t)
    values, g = spec_entry_model(a, 6)
    f, cdf, pair_values = spec_pair_model(values, g, 6)
    assert r.cdf.tolist() == cdf and r.values.tolist() == pair_values


def test_product_option_errors():
    with pytest.raises(ValueError, match="1-byte dtype"):
        anspack.encode({"a": np.zeros(4, np.int16)}, pairs="product")
    with pytest.raises(ValueError, match="even number"):
        anspack.encode({"a": np.zeros(5, np.uint8)}, pairs={"a": "product"})
    with pytest.raises(ValueError, match="tensor 'a'.*V\\^2"):
        anspack.encode({"a": np.arange(20, dtype=np.int8)}, pairs="product", precision=8)  # 400 > 256
    with pytest.raises(ValueError, match="pairs must be"):
        anspack.encode({"a": np.zeros(4, np.int8)}, pairs="both")


def test_automatic_precision_is_raised_to_fit_the_pair_vocabulary():
    a = (np.arange(4000) % 100).astype(np.uint8)  # 100 values: V^2 = 10000 needs P = 14
    data = roundtrip({"a": a}, pairs="product")
    t = anspack.read_header(data)["a"]
    assert t.product and t.vocab_size == 100 and t.precision == 14


def test_auto_picks_product_pairs_for_independent_4bit_weights():
    rng = np.random.default_rng(3)
    w = np.clip(np.round(rng.standard_normal((384, 384)) * 2.2), -7, 7).astype(np.int8)
    data = roundtrip({"w": w})
    t = anspack.read_header(data)["w"]
    assert t.pairs and t.product
    size = {p: anspack.read_header(anspack.encode({"w": w}, pairs=p))["w"].data_size for p in (False, True)}
    assert t.data_size < size[True]  # the stored pair model costs more than the derived one
    assert t.data_size <= 1.0025 * size[False]


def test_product_files_are_deterministic_across_threads():
    rng = np.random.default_rng(5)
    tensors = {f"w{i}": np.clip(np.round(rng.standard_normal(300_000) * 2), -7, 7).astype(np.int8) for i in range(3)}
    one = anspack.encode(tensors, pairs="product", chunk=40_000, threads=1)
    assert anspack.encode(tensors, pairs="product", chunk=40_000, threads=2) == one
    assert all(t.product and t.chunks > 1 for t in anspack.read_header(one).tensors)
