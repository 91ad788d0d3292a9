"""Pairs (spec section 7.1) and chunks (section 7.2) in the Python encoder and decoder."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import anspack
from anspack.checksum import fxhash26, fxhash26_reference
from anspack.model import build_model
from anspack.rans import STATE_LOW


def roundtrip(tensors, **options):
    data = anspack.encode(tensors, **options)
    for threads in (1, 2):
        out = anspack.decode(data, threads=threads)
        for k, v in tensors.items():
            assert out[k].dtype == v.dtype and out[k].shape == v.shape and np.array_equal(out[k], v), k
    return data


def reference_encode(ids, freqs, cdf, P, L):
    """Spec section 10's encoder, line by line (slow)."""
    states = [STATE_LOW] * L
    emitted = []
    for i in range(len(ids) - 1, -1, -1):
        j, s = i % L, int(ids[i])
        x = states[j]
        if x >= (1 << (32 - P)) * int(freqs[s]):
            emitted.append(x & 0xFFFF)
            x >>= 16
        states[j] = (x // int(freqs[s])) * (1 << P) + x % int(freqs[s]) + int(cdf[s])
    return states, emitted[::-1]


def parse_block(data, t):
    """States, chunk tables and words of a coding-0 block, read straight from the bytes (spec section 7)."""
    o = t.data_offset
    V, L, W, P, mode, _, Q = struct.unpack_from("<IIQBBHI", data, o)
    K = t.chunks
    at = o + 24
    states = list(struct.unpack_from(f"<{L * K}I", data, at))
    at += 4 * L * K
    chunk_words = chunk_checksums = None
    if Q:
        chunk_words = list(struct.unpack_from(f"<{K}I", data, at))
        chunk_checksums = list(struct.unpack_from(f"<{K}I", data, at + 4 * K))
    words = list(struct.unpack_from(f"<{W}H", data, t.data_offset + t.data_size - 2 * W))
    return dict(V=V, L=L, P=P, mode=mode, Q=Q, states=states, chunk_words=chunk_words,
                chunk_checksums=chunk_checksums, words=words)


@pytest.mark.parametrize("n,Q,L", [(10, 4, 3), (384, 100, 3), (1000, 7, 7), (1001, 1000, 1), (65, 8, 8), (9, 2, 2)])
def test_chunks_are_independent_streams_as_the_spec_says(n, Q, L):
    rng = np.random.default_rng(n + Q)
    a = np.round(rng.standard_normal(n) * 3).astype(np.int16)
    data = roundtrip({"a": a}, chunk=Q, lanes=L, precision=10)
    t = anspack.read_header(data)["a"]
    assert (t.chunk, t.chunks, t.lanes, t.pairs) == (Q, -(-n // Q), L, False)
    blk = parse_block(data, t)
    m = build_model(a, 10)
    words, sums = [], []
    for k in range(t.chunks):
        ids = m.ids[k * Q:(k + 1) * Q]
        states, w = reference_encode(ids, m.freqs, m.cdf, 10, L)
        assert blk["states"][k * L:(k + 1) * L] == states
        assert blk["chunk_words"][k] == len(w)
        assert blk["chunk_checksums"][k] == fxhash26_reference(ids)
        words += w
        sums.append(fxhash26_reference(ids))
    assert blk["words"] == words
    assert t.checksum == fxhash26_reference(sums)  # the table checksum hashes the chunk checksums


def test_short_last_chunk_leaves_unused_lanes_at_their_start_state():
    a = np.array([5, -3, 5, 5, 0, 5, -3, 5, 2, 5], dtype=np.int16)
    data = roundtrip({"a": a}, chunk=4, lanes=3)
    blk = parse_block(data, anspack.read_header(data)["a"])
    assert blk["states"][6 + 2] == STATE_LOW  # chunk 2 holds 2 symbols: its lane 2 is never used


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_pairs_are_the_uint16_tensor_of_the_pair_values(dtype):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, size=(40, 31)).astype(dtype) if dtype == np.uint8 else \
        np.clip(np.round(rng.standard_normal((40, 31)) * 2), -7, 7).astype(dtype)
    data = roundtrip({"a": a}, pairs=True, lanes=5, precision=11)
    t = anspack.read_header(data)["a"]
    assert t.pairs and t.symbols == a.size // 2
    u16 = a.reshape(-1).view("<u2")
    same = anspack.read_header(anspack.encode({"a": u16}, lanes=5, precision=11))["a"]
    assert t.checksum == same.checksum == fxhash26(build_model(u16, 11).ids)
    blk = parse_block(data, t)
    assert blk["mode"] == 1 and blk["V"] == same.vocab_size


def test_pairs_are_refused_where_the_spec_forbids_them():
    with pytest.raises(ValueError, match="1-byte dtype"):
        anspack.encode({"a": np.zeros(4, np.int16)}, pairs=True)
    with pytest.raises(ValueError, match="even number"):
        anspack.encode({"a": np.zeros(5, np.int8)}, pairs=True)
    with pytest.raises(ValueError, match="pairs must be"):
        anspack.encode({"a": np.zeros(4, np.int8)}, pairs="yes")


def test_auto_pairs_pick_small_vocabularies_only():
    rng = np.random.default_rng(0)
    # neighbours equal half the time: pairs capture that, so "auto" must take them
    int4 = np.clip(np.round(rng.standard_normal((256, 64)) * 2), -7, 7).astype(np.int8)
    int4[:, 1::2] = np.where(rng.random((256, 32)) < 0.5, int4[:, ::2], int4[:, 1::2])
    int8 = np.clip(np.round(rng.standard_normal((256, 64)) * 20), -127, 127).astype(np.int8)
    small = int4[:2, :8].copy()
    h = anspack.read_header(roundtrip({"int4": int4, "int8": int8, "small": small}))
    assert h["int4"].pairs and not h["int8"].pairs and not h["small"].pairs
    assert not h["int4"].product  # the dependence between neighbours needs the stored (plain) pair model
    # otherwise "auto" takes the smaller of plain and PRODUCT pairs exactly when that block is at most
    # 0.25 % larger than the unpaired one
    kinds = set()
    for scale in (0.7, 1.5, 2.5, 4.0):
        t = np.clip(np.round(rng.standard_normal((512, 256)) * scale), -7, 7).astype(np.int8)
        size = {p: anspack.read_header(anspack.encode({"a": t}, pairs=p))["a"].data_size
                for p in (True, "product", False)}
        paired = min(size[True], size["product"])
        chosen = anspack.read_header(anspack.encode({"a": t}))["a"]
        kind = ("product" if chosen.product else True) if chosen.pairs else False
        kinds.add(kind)
        assert chosen.data_size == size[kind]
        assert chosen.pairs == (paired <= 1.0025 * size[False]) or abs(paired / size[False] - 1.0025) < 2e-4
        if chosen.pairs:
            assert size[kind] == paired
    assert "product" in kinds  # independent entries: the derived pair model is the smaller one


def test_chunk_option_edge_cases():
    a = np.arange(100, dtype=np.int16) % 7
    for Q in (0, 100, 1000):  # 0 and Q >= N both give the unchunked layout
        assert anspack.read_header(roundtrip({"a": a}, chunk=Q))["a"].chunk == 0
    h = anspack.read_header(roundtrip({"a": a}, chunk=3, lanes=8))["a"]  # lanes are clamped to Q
    assert (h.chunk, h.lanes, h.chunks) == (3, 3, 34)
    with pytest.raises(ValueError, match="chunk"):
        anspack.encode({"a": a}, chunk=-1)
    with pytest.raises(KeyError):
        anspack.encode({"a": a}, chunk={"b": 3})


def test_default_chunks_big_tensors_and_threads_do_not_change_bytes():
    rng = np.random.default_rng(1)
    big = np.round(rng.standard_normal(3 * (1 << 18) + 5) * 6).astype(np.int8)
    tensors = {"big": big, "small": big[:1000].copy()}
    one = anspack.encode(tensors, threads=1)
    assert anspack.encode(tensors, threads=2) == one == anspack.encode(tensors)
    h = anspack.read_header(one)
    # the fewest even number of chunks of at most 2^18 symbols (4), of equal size: ceil((3 * 2^18 + 5) / 4)
    assert (h["big"].chunk, h["big"].chunks, h["big"].precision, h["big"].lanes) == (196610, 4, 14, 8)
    assert [b - a for a, b in map(h["big"].chunk_bounds, range(4))] == [196610] * 3 + [196607]
    odd = anspack.read_header(anspack.encode({"a": np.resize(big, 2 * (1 << 18) + 1)}))["a"]  # 3 chunks -> 4
    assert (odd.chunk, odd.chunks) == (131073, 4)
    assert (h["small"].chunk, h["small"].precision) == (0, 10)  # 10 below 2^12 symbols
    # above 2^15 symbols at least two chunks (two FxHash26 chains side by side in the WebAssembly loop),
    # a multiple of four at 8 lanes (four chains in one vector: rans_quad.wat), an even number otherwise
    for n, lanes, want in ((1 << 15, None, (0, 1)), ((1 << 15) + 1, None, (8193, 4)), (1 << 18, None, (1 << 16, 4)),
                           (5 * (1 << 18), None, (163840, 8)), ((1 << 15) + 1, 4, (16385, 2)), (1 << 18, 4, (1 << 17, 2)),
                           (3 * (1 << 18), 4, (196608, 4)), (1 << 16, 16, (1 << 15, 2))):
        t = anspack.read_header(anspack.encode({"a": np.resize(big, n)}, lanes=lanes))["a"]
        assert (t.chunk, t.chunks) == want, (n, lanes)
    out = anspack.decode(one, threads=2)
    assert np.array_equal(out["big"], big)


def test_errors_name_the_chunk():
    a = np.round(np.random.default_rng(2).standard_normal(300) * 3).astype(np.int16)
    data = bytearray(anspack.encode({"a": a}, chunk=100, lanes=2, precision=9))
    t = anspack.read_header(bytes(data))["a"]
    blk = parse_block(bytes(data), t)
    # flip a word of chunk 1: its own stream check or its chunk checksum must fail, naming chunk 1
    first = blk["chunk_words"][0]
    words_at = t.data_offset + t.data_size - 2 * len(blk["words"])
    data[words_at + 2 * first] ^= 0x40
    with pytest.raises((anspack.errors.CorruptStream, anspack.errors.ChecksumMismatch), match="chunk 1"):
        anspack.decode(bytes(data))


def test_rule7_errors_of_a_chunked_block_name_the_first_problem_and_its_byte():
    """Spec section 13 rule 7 on a chunked block (read_header checks them in one compiled pass): each
    kind of violation gives its error, message and byte offset, and the first one in the block wins."""
    from anspack.container import RANS_HEADER_SIZE

    rng = np.random.default_rng(8)
    a = np.clip(np.round(rng.standard_normal(3001) * 4), -6, 6).astype(np.int8)  # chunks of 700, the last 201
    data = anspack.encode({"w": a}, chunk=700, lanes=4, pairs=False, precision=12, raw=False)
    t = anspack.read_header(data)["w"]
    K, L, V, W = t.chunks, t.lanes, t.vocab_size, t.words
    st = t.data_offset + RANS_HEADER_SIZE
    ct = st + 4 * L * K  # chunk_words, then chunk_checksums
    cdf_at = t.data_offset + t.data_size - 2 * W - 2 * (V + 1)
    assert K == 5 and V == 13  # an odd vocabulary of int8 values: one padding byte before the CDF

    def error(*patches):
        bad = bytearray(data)
        for at, fmt, v in patches:
            struct.pack_into(fmt, bad, at, v)
        with pytest.raises(anspack.FormatError) as info:
            anspack.read_header(bytes(bad), verify=False)
        name = type(info.value).__name__
        return name, str(info.value).split(" (tensor")[0].removeprefix(f"{name}: "), info.value.offset

    words = struct.unpack_from("<5I", data, ct)
    assert error((ct + 12, "<I", 701)) == ("BadModel", "chunk 3 has 701 words, more than its 700 symbols", ct + 12)
    assert error((ct + 16, "<I", 202)) == ("BadModel", "chunk 4 has 202 words, more than its 201 symbols", ct + 16)
    assert error((ct + 4 * K + 8, "<I", 1 << 26)) == (
        "BadModel", "chunk 2's checksum 0x4000000 has bits above 26 set", ct + 4 * K + 8)
    # the first chunk breaking either rule: chunk 1's checksum before chunk 3's word count
    assert error((ct + 12, "<I", 701), (ct + 4 * K + 4, "<I", 1 << 27))[2] == ct + 4 * K + 4
    assert error((ct, "<I", words[0] - 1)) == ("BadModel", f"the chunks' word counts sum to {W - 1}, but W={W}", ct)
    assert error((cdf_at - 1, "<B", 1)) == ("ReservedNonZero", "vocabulary padding byte is not zero", cdf_at - 1)
    assert error((cdf_at, "<H", 3)) == ("BadModel", "cdf[0] is 3, expected 0", cdf_at)
    assert error((cdf_at + 2 * V, "<H", 100)) == ("BadModel", "cdf[V] is 100, expected 2^P = 4096", cdf_at + 2 * V)
    c2 = struct.unpack_from("<H", data, cdf_at + 4)[0]
    c1 = struct.unpack_from("<H", data, cdf_at + 2)[0]
    assert error((cdf_at + 4, "<H", c1)) == (
        "BadModel", f"cdf is not strictly increasing at symbol 1 ({c1} -> {c1}); every frequency must be at least 1",
        cdf_at + 4)
    assert c2 > c1
    assert error((st + 4 * (2 * L + 3), "<I", 7)) == (
        "BadModel", "initial state of chunk 2, lane 3 is 7, below 2^16", st + 4 * (2 * L + 3))
    # order: the chunk table before the CDF before the states
    assert error((st, "<I", 7), (cdf_at, "<H", 3), (ct, "<I", 10**6))[2] == ct
    assert error((st, "<I", 7), (cdf_at, "<H", 3))[2] == cdf_at
