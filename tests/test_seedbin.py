"""The seed notebook's WebGL layout (anspack.seedbin, spec/FORMAT.md Appendix A).

The oracle below is a literal pure-Python port of the notebook's own algorithm (its AnsCoder class,
its model cell, its encoding loop and its serialization cell), used on small sizes; the full-size
test reproduces the notebook's printed figures on its 100 x 1024 x 1024 mock matrices.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anspack import seedbin
from anspack.checksum import fxhash26
from anspack.errors import BadLayout, BadModel, CorruptStream, FormatError, LimitExceeded, SizeMismatch, Truncated
from anspack.model import quantize_counts

# ---------------------------------------------------------------------------------------------------
# Oracle: the notebook's algorithm, transcribed (pure Python, slow: small sizes only).


class NotebookAnsCoder:
    """The notebook's AnsCoder (cell 6): a head of up to two words plus a bulk of emitted words."""

    def __init__(self, precision, word_size, compressed=()):
        self.precision = precision
        self.word_size = word_size
        self.word_mask = (1 << word_size) - 1
        self.quantile_mask = (1 << precision) - 1
        self.bulk = list(compressed)
        self.head = 0
        while self.bulk and (self.head >> word_size) == 0:
            self.head = (self.head << word_size) | self.bulk.pop()

    def push(self, symbol, m):
        if (self.head >> (2 * self.word_size - self.precision)) >= m[symbol]:
            self.bulk.append(self.head & self.word_mask)
            self.head >>= self.word_size
        z = self.head % m[symbol] + sum(m[0:symbol])
        self.head //= m[symbol]
        self.head = (self.head << self.precision) | z

    def pop(self, m):
        z = self.head & self.quantile_mask
        self.head >>= self.precision
        for symbol, m_symbol in enumerate(m):
            if z >= m_symbol:
                z -= m_symbol
            else:
                break
        self.head = self.head * m_symbol + z
        if (self.head >> self.word_size) == 0 and self.bulk:
            self.head = (self.head << self.word_size) | self.bulk.pop()
        return symbol

    def get_compressed(self):
        out = list(self.bulk)
        head = self.head
        while head != 0:
            out.append(head & self.word_mask)
            head >>= self.word_size
        return out


def notebook_freqs(counts, n):
    """The notebook's 12-bit rule (cell 4) for counts in vocabulary order: round half to even, at
    least 1, then 1 off each of the ``excess`` most frequent symbols. (The notebook wrote c / 256 for
    its n = 2^20; c * 4096 / n is the same rule for any n.)"""
    c = np.asarray(counts, dtype=np.int64)
    f = np.maximum(np.round(c * 4096 / n).astype(np.int32), 1)
    excess = int(f.sum()) - 4096
    assert 0 <= excess <= len(c), "the notebook's rule is undefined here"
    if excess:
        assert f[excess - 1] > 1
    f[:excess] -= 1
    return f.astype(np.int64)


def vocab_ours(matrix):
    """Values by count descending, ties by value ascending (anspack's order), and their counts."""
    v, c = np.unique(matrix, return_counts=True)
    order = np.argsort(-c, kind="stable")
    return v[order], c[order]


def oracle_layout(q, freq_rule=notebook_freqs):
    """The notebook's cells 8, 9, 34 and 81 for int matrices ``q`` (M, rows, cols): the file's bytes."""
    M, N = len(q), q[0].size
    vocabs, models = [], []
    for mat in q:
        v, c = vocab_ours(mat)
        vocabs.append({int(x): i for i, x in enumerate(v)})
        models.append([int(x) for x in freq_rule(c, N)])
    stream = []
    offsets = np.zeros((M, N), dtype=np.int64)
    coders = [NotebookAnsCoder(12, 16, [1, 1]) for _ in range(N)]
    for i in reversed(range(M)):
        flat = q[i].ravel()
        for j, entry, coder in zip(range(N - 1, -1, -1), reversed(flat), coders):
            coder.push(vocabs[i][int(entry)], models[i])
            if len(coder.bulk) == 1:
                stream.append(coder.bulk[0])
                coder.bulk = []
            offsets[i, j] = len(stream)
    for coder in coders:
        assert len(coder.bulk) == 0
        tail = coder.get_compressed()
        assert len(tail) == 2
        stream += tail
    stream = np.array(stream, dtype=np.uint16)

    def serialize(i):
        cdf = np.array([sum(models[i][:j]) for j in range(len(models[i]) + 1)], dtype=np.uint16)
        start = offsets[i, 0]
        end = start if i == 0 else offsets[i - 1, 0]
        return np.concatenate([np.array([len(cdf) + 1], dtype=np.uint16), cdf, stream[start:end][::-1]])

    sections = [serialize(i) for i in range(M)]
    sizes = np.array([s.size for s in sections], dtype=np.uint32)
    parts = [stream[offsets[0, 0]:][::-1], np.vstack([sizes & 0xFFFF, sizes >> 16]).T.ravel().astype(np.uint16)]
    return np.concatenate(parts + sections).astype("<u2").tobytes(), len(stream)


def oracle_decode(data, M, rows, cols):
    """A decoder written from the notebook's README description of its WebGL decoder, driving the
    notebook's own pop(): ids per matrix."""
    N = rows * cols
    w = np.frombuffer(data, dtype="<u2").astype(np.int64)
    heads = [(int(w[2 * e]) << 16) | int(w[2 * e + 1]) for e in range(N)]
    sizes = [int(w[2 * N + 2 * i]) | (int(w[2 * N + 2 * i + 1]) << 16) for i in range(M)]
    pos = 2 * N + 2 * M
    coders = []
    for h in heads:
        c = NotebookAnsCoder(12, 16)
        c.head = h
        coders.append(c)
    out = np.zeros((M, N), dtype=np.int64)
    for i in range(M):
        sec = w[pos: pos + sizes[i]]
        cdf = [int(x) for x in sec[1: sec[0]]]
        m = [b - a for a, b in zip(cdf, cdf[1:])]
        data_words = [int(x) for x in sec[sec[0]:]]
        k = 0
        for e, coder in enumerate(coders):
            if coder.head >> 16 == 0:  # "a refill is read when the state's high half is zero"
                coder.head = (coder.head << 16) | data_words[k]
                k += 1
            out[i, e] = coder.pop(m)
        assert k == len(data_words)
        pos += sizes[i]
    assert all(c.head == 0x10001 for c in coders)
    return out


def small_cases():
    rng = np.random.default_rng(7)
    yield "3x16x16 randn*8", np.round(rng.standard_normal((3, 16, 16)) * 8).astype(np.int8)
    yield "5x32x32 randn*8", np.round(rng.standard_normal((5, 32, 32)) * 8).astype(np.int8)
    yield "4x24x40 randn*3", np.round(rng.standard_normal((4, 24, 40)) * 3).astype(np.int8)
    yield "6x20x20 laplace*2", np.clip(np.round(rng.laplace(size=(6, 20, 20)) * 2), -128, 127).astype(np.int8)
    yield "4x16x16 mostly zero", (rng.random((4, 16, 16)) < 0.03).astype(np.int8) * rng.integers(-3, 4, (4, 16, 16),
                                                                                                    dtype=np.int8)
    yield "3x8x8 uniform int8", rng.integers(-128, 128, (3, 8, 8), dtype=np.int8)
    q = np.zeros((3, 8, 8), dtype=np.int8)
    q[1] = 5
    q[2, 0, 0] = 1
    yield "3x8x8 constant and near-constant", q


SMALL = list(small_cases())


# ---------------------------------------------------------------------------------------------------
# Small cases against the oracle


@pytest.mark.parametrize("name,q", SMALL, ids=[n for n, _ in SMALL])
def test_byte_identical_to_notebook_algorithm(name, q):
    expected, _ = oracle_layout(q, freq_rule=_rule_for(q))
    got = seedbin.encode(q)
    assert got == expected
    ids, checksums = seedbin.decode(got, matrices=q.shape[0], rows=q.shape[1], cols=q.shape[2])
    assert ids.shape == q.shape
    for i in range(q.shape[0]):
        v, _ = vocab_ours(q[i])
        assert (v[ids[i]] == q[i]).all()
        assert checksums[i] == fxhash26(ids[i])
    assert (oracle_decode(got, *q.shape) == ids.reshape(q.shape[0], -1)).all()


def _rule_for(q):
    """The notebook's rule where it is defined (it asserts excess >= 0), else anspack's."""
    n = q[0].size
    for mat in q:
        _, c = vocab_ours(mat)
        try:
            notebook_freqs(c, n)
        except AssertionError:
            return lambda c, n: quantize_counts(c, n, 12)
    return notebook_freqs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9), st.sampled_from([0.3, 2.0, 8.0, 40.0]),
       st.integers(0, 2**32 - 1))
def test_random_small_cases_against_oracle(M, R, C, scale, seed):
    rng = np.random.default_rng(seed)
    q = np.clip(np.round(rng.standard_normal((M, R, C)) * scale), -128, 127).astype(np.int8)
    expected, _ = oracle_layout(q, freq_rule=_rule_for(q))
    got = seedbin.encode(q)
    assert got == expected
    ids, checksums = seedbin.decode(got, matrices=M, rows=R, cols=C)
    assert (oracle_decode(got, M, R, C) == ids.reshape(M, -1)).all()
    assert checksums == [fxhash26(ids[i]) for i in range(M)]


def test_small_cases_use_the_notebook_rule_mostly():
    # Guard for the test above: most small cases must exercise the notebook's literal rule.
    assert sum(_rule_for(q) is notebook_freqs for _, q in SMALL) >= 5


def test_rules_agree_on_small_cases_where_notebook_rule_is_defined():
    for _, q in SMALL:
        for mat in q:
            _, c = vocab_ours(mat)
            try:
                nb = notebook_freqs(c, mat.size)
            except AssertionError:
                continue
            assert (quantize_counts(c, mat.size, 12) == nb).all()


def test_wider_integer_dtypes_and_uint8():
    rng = np.random.default_rng(3)
    base = np.round(rng.standard_normal((3, 12, 10)) * 20).astype(np.int16)
    expected, _ = oracle_layout(base, freq_rule=_rule_for(base))
    assert seedbin.encode(base) == expected
    assert seedbin.encode(base.astype(np.int32)) == expected
    u = rng.integers(0, 256, (2, 9, 9), dtype=np.uint8)
    expected_u, _ = oracle_layout(u, freq_rule=lambda c, n: quantize_counts(c, n, 12))
    assert seedbin.encode(u) == expected_u


def test_many_symbols_gives_uint16_ids():
    # 300 distinct values in one matrix: ids need 16 bits.
    a = np.arange(2 * 20 * 30, dtype=np.int16).reshape(2, 20, 30) % 300
    data = seedbin.encode(a)
    ids, checksums = seedbin.decode(data, matrices=2, rows=20, cols=30)
    assert ids.dtype == np.uint16
    expected, _ = oracle_layout(a, freq_rule=lambda c, n: quantize_counts(c, n, 12))
    assert data == expected
    assert checksums == [fxhash26(ids[0]), fxhash26(ids[1])]


def test_layout_fields():
    q = SMALL[1][1]
    M, R, C = q.shape
    N = R * C
    data = seedbin.encode(q)
    lay = seedbin.parse_layout(data, matrices=M, rows=R, cols=C)
    w = np.frombuffer(data, dtype="<u2")
    assert lay.file_words == w.size
    assert (lay.heads == ((w[0:2 * N:2].astype(np.uint32) << 16) | w[1:2 * N:2])).all()
    assert lay.data_sizes[0] == 0  # section 0 never has data
    for i, m in enumerate(seedbin.models(q)):
        s = lay.section_starts[i]
        assert w[s] == m.values.size + 2
        assert (w[s + 1:s + 2 + m.values.size] == m.cdf).all()
    _, n_stream = oracle_layout(q)
    assert lay.stream_words == n_stream


# ---------------------------------------------------------------------------------------------------
# Bad input


@pytest.fixture(scope="module")
def small_file():
    q = SMALL[1][1]
    return q, seedbin.encode(q)


def _words(data):
    return np.frombuffer(data, dtype="<u2").copy()


def _raises(cls, data, q, **kw):
    M, R, C = q.shape
    with pytest.raises(cls) as info:
        seedbin.decode(data, matrices=kw.get("matrices", M), rows=kw.get("rows", R), cols=kw.get("cols", C))
    assert info.value.code == cls.__name__
    return info.value


def test_bad_lengths(small_file):
    q, data = small_file
    _raises(Truncated, data[:-1], q)  # odd
    _raises(Truncated, data[:-2], q)
    _raises(Truncated, data[:100], q)
    _raises(SizeMismatch, data + b"\0\0", q)
    e = _raises(Truncated, data, q, rows=q.shape[1] * 40)  # heads alone need more than the file
    assert e.offset == len(data)


def test_bad_heads_and_sizes(small_file):
    q, data = small_file
    M, R, C = q.shape
    N = R * C
    w = _words(data)
    w[2 * 17] = 0  # high word of entry 17's head
    e = _raises(BadModel, w.tobytes(), q)
    assert e.offset == 4 * 17 and "entry 17" in str(e)
    w = _words(data)
    w[2 * N + 2 * 3] = 2  # section 3 size -> 2
    e = _raises(BadLayout, w.tobytes(), q)
    assert e.offset == 2 * (2 * N + 6)
    w = _words(data)
    w[2 * N + 2 * 2 + 1] = 1  # section 2 size + 65536: runs past the end
    _raises(Truncated, w.tobytes(), q)


def test_bad_sections(small_file):
    q, data = small_file
    M, R, C = q.shape
    lay = seedbin.parse_layout(data, matrices=M, rows=R, cols=C)
    s = int(lay.section_starts[2])
    V = int(lay.vocab_sizes[2])
    for bad_offset in (0, 2, 4099, int(lay.sizes[2]) + 1):
        w = _words(data)
        w[s] = bad_offset
        e = _raises(BadLayout, w.tobytes(), q)
        assert e.offset == 2 * s
    w = _words(data)
    w[s + 1] = 1  # cdf[0]
    _raises(BadModel, w.tobytes(), q)
    w = _words(data)
    w[s + 1 + V] = 4095  # cdf[V]
    _raises(BadModel, w.tobytes(), q)
    w = _words(data)
    w[s + 3] = w[s + 2]  # a zero frequency
    e = _raises(BadModel, w.tobytes(), q)
    assert e.offset == 2 * (s + 3)


def test_corrupt_words(small_file):
    q, data = small_file
    M, R, C = q.shape
    N = R * C
    lay = seedbin.parse_layout(data, matrices=M, rows=R, cols=C)
    # Dropping a data word (and fixing the size table) under-runs that section.
    i = 3
    start, size = int(lay.data_starts[i]), int(lay.data_sizes[i])
    assert size > 0
    w = _words(data)
    w = np.delete(w, start + size - 1)
    w[2 * N + 2 * i] -= 1
    _raises(CorruptStream, w.tobytes(), q)
    # An extra word is left over.
    w = _words(data)
    w = np.insert(w, start + size, 7)
    w[2 * N + 2 * i] += 1
    e = _raises(CorruptStream, w.tobytes(), q)
    assert "never read" in str(e)
    # Flipping bits in a head or a data word leaves some coder off its initial head (or breaks the
    # word accounting): either way CorruptStream.
    for pos in (1, 2 * N - 1, start, start + size // 2):
        w = _words(data)
        w[pos] ^= 0x0400
        _raises(CorruptStream, w.tobytes(), q)


def test_bad_arguments(small_file):
    q, data = small_file
    M, R, C = q.shape
    for kw in ({"matrices": 0}, {"rows": -1}, {"cols": 2.0}, {"matrices": True}):
        args = {"matrices": M, "rows": R, "cols": C, **kw}
        with pytest.raises(ValueError) as info:
            seedbin.decode(data, **args)
        assert not isinstance(info.value, FormatError)
    with pytest.raises(LimitExceeded):
        seedbin.decode(data, matrices=M, rows=R, cols=C, max_entries=M * R * C - 1)
    with pytest.raises(ValueError):
        seedbin.encode(np.zeros((4, 4), np.int8))
    with pytest.raises(ValueError):
        seedbin.encode(np.zeros((0, 4, 4), np.int8))
    with pytest.raises(TypeError):
        seedbin.encode(np.zeros((1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="4096"):
        seedbin.encode(np.arange(5000, dtype=np.int32).reshape(1, 50, 100))
    with pytest.raises(ValueError):
        seedbin.encode_ids(np.zeros((1, 4), np.uint8), [np.array([0, 4000])])


def test_accepts_buffers_of_any_kind(small_file):
    q, data = small_file
    M, R, C = q.shape
    ref, ck = seedbin.decode(data, matrices=M, rows=R, cols=C)
    for buf in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8), np.frombuffer(data, "<u2"),
                np.frombuffer(b"x" + data, np.uint8)[1:]):  # the last one is misaligned
        ids, ck2 = seedbin.decode(buf, matrices=M, rows=R, cols=C)
        assert (ids == ref).all() and ck2 == ck


def test_mock_matrices_stream_equals_single_call():
    got = seedbin.mock_matrices(3, 5, 7, seed=11)
    state = np.random.get_state()
    try:
        np.random.seed(11)
        expected = np.round(np.random.randn(3, 5, 7) * 8).astype(np.int8)
    finally:
        np.random.set_state(state)
    assert (got == expected).all()


# ---------------------------------------------------------------------------------------------------
# The notebook's 100 x 1024 x 1024 matrices and its printed figures

NOTEBOOK_TOTAL_WORDS = 34_691_303
OURS_TOTAL_WORDS = 34_691_301  # count descending, ties by value ascending
NOTEBOOK_SIZES = [
    78, 332241, 331060, 330216, 331987, 331455, 330044, 331860, 332325, 329815, 331617, 332295, 329927, 331284,
    332145, 331064, 330066, 332319, 331558, 329879, 332840, 332339, 328111, 332194, 333385, 328425, 330857,
    335742, 327901, 329529, 336072, 328910, 327637, 336437, 330944, 326216, 336044, 333434, 323793, 334167,
    337582, 322769, 331419, 340793, 323443, 326455, 343883, 326798, 320542, 345330, 331853, 314933, 343560,
    340227, 309240, 339272, 350052, 307086, 329680, 360216, 309468, 315432, 368840, 319216, 297229, 373021,
    335884, 279694, 367900, 360475, 265178, 351095, 390701, 260596, 321099, 419455, 272920, 276076, 444041,
    304387, 219989, 457270, 353557, 166826, 444379, 419030, 140050, 383622, 503638, 152196, 253879, 616465,
    180265, 78305, 761215, 213233, 12997, 792229, 250265, 6522,
]
NOTEBOOK_ENTROPIES_HEAD = [5.04873129, 5.04657062, 5.04677307, 5.04884595, 5.0473163, 5.0486622, 5.04661374]
NOTEBOOK_CHECKSUMS = [
    55445785, 15163511, 6664559, 15747500, 5573655, 27711411, 20047205, 10641525, 64606195, 65232545, 51903642,
    57475160, 54761909, 30428408, 22313942, 33179881, 37189258, 16278593, 56573661, 41121083, 55929650, 43756132,
    28003007, 56424187, 28589585, 37515944, 58783295, 57634150, 6008159, 16510335, 64138918,
]
NOTEBOOK_BITRATE = 5.293472747802735
NOTEBOOK_BITRATE_MINUS_XENT = 0.20617554845228003


@pytest.fixture(scope="module")
def notebook_data():
    q = seedbin.mock_matrices(100, 1024, 1024, seed=202404151)
    model_list, ids = seedbin.models_and_ids(q)
    data = seedbin.encode_ids(ids, [m.cdf for m in model_list])
    return q, model_list, ids, data


def test_notebook_matrices(notebook_data):
    q, _, _, _ = notebook_data
    # The notebook's printed minima/maxima (first ones).
    assert q.min(axis=(1, 2))[:8].tolist() == [-41, -38, -40, -38, -44, -38, -37, -41]
    assert q.max(axis=(1, 2))[:8].tolist() == [38, 39, 36, 36, 39, 37, 36, 38]
    assert seedbin.encode(q) == notebook_data[3]


def test_spec_rule_equals_notebook_rule_on_the_notebook_data(notebook_data):
    _, model_list, _, _ = notebook_data
    for m in model_list:
        assert (notebook_freqs(m.counts, 1 << 20) == m.freqs).all()


def test_notebook_model_figures(notebook_data):
    q, model_list, _, data = notebook_data
    fig = seedbin.stats(q, data)
    assert np.allclose(fig["entropies"][:7], NOTEBOOK_ENTROPIES_HEAD, atol=5e-9)
    # The notebook's "cross_entropies_12bit" is the 12-bit model's own entropy (12 - f.log2 f / 4096);
    # its overheads are that minus the entropy. The frequencies are a tie-order-independent multiset,
    # so the mean is exactly the notebook's: its bitrate minus its printed excess.
    assert round(fig["notebook_overhead_rel_percent"], 2) == 0.93
    assert round(fig["notebook_overhead_abs"], 4) == 0.0471
    assert abs(fig["model_entropies"].mean() - (NOTEBOOK_BITRATE - NOTEBOOK_BITRATE_MINUS_XENT)) < 1e-9
    # The true cost of coding with the 12-bit models is much closer to the entropy.
    assert 0.1 < fig["overhead_rel_percent"] < 0.2
    assert (fig["cross_entropies"] < fig["model_entropies"]).all()
    assert abs(fig["bits_per_entry"] - NOTEBOOK_BITRATE) < 1e-5


def test_notebook_word_counts_and_sizes(notebook_data):
    q, model_list, ids, data = notebook_data
    lay = seedbin.parse_layout(data, matrices=100, rows=1024, cols=1024)
    assert lay.stream_words == OURS_TOTAL_WORDS
    assert abs(lay.stream_words - NOTEBOOK_TOTAL_WORDS) <= 5
    assert len(data) == 2 * lay.file_words
    sizes = lay.sizes.tolist()
    assert sizes[0] == NOTEBOOK_SIZES[0] == 78  # section 0: data_offset + 77 CDF entries, no data
    assert max(sizes) == max(NOTEBOOK_SIZES) == 792229
    assert int(np.argmax(sizes)) == int(np.argmax(NOTEBOOK_SIZES))
    diff = np.array(sizes) - np.array(NOTEBOOK_SIZES)
    assert np.abs(diff).max() <= 10
    assert (diff == 0).sum() >= 20  # many sections agree exactly despite the tie order
    # Section i's size is V_i + 2 + the words emitted while pushing matrix i - 1.
    assert all(sizes[i] - lay.data_sizes[i] == model_list[i].values.size + 2 for i in range(100))
    assert abs(lay.stream_words * 16 / q.size - NOTEBOOK_BITRATE) < 1e-5


def test_notebook_tie_order_explains_the_difference(notebook_data):
    """Another tie order (ties by value descending) changes the word count by a few words and
    leaves the frequencies (hence the cross-entropy) unchanged: the notebook's 34,691,303 is one
    such order's result."""
    q, model_list, ids, data = notebook_data
    cdfs, new_ids = [], np.empty_like(ids)
    for i, m in enumerate(model_list):
        order = np.lexsort((-m.values, -m.counts))  # count desc, value desc
        f = quantize_counts(m.counts[order], 1 << 20, 12)
        assert sorted(f.tolist()) == sorted(m.freqs.tolist())
        cdf = np.zeros(f.size + 1, np.int64)
        np.cumsum(f, out=cdf[1:])
        rank = np.empty(f.size, np.int64)
        rank[order] = np.arange(f.size)
        new_ids[i] = rank[ids[i]]
        cdfs.append(cdf)
    other = seedbin.parse_layout(seedbin.encode_ids(new_ids, cdfs), matrices=100, rows=1024, cols=1024)
    assert other.stream_words != OURS_TOTAL_WORDS
    assert abs(other.stream_words - NOTEBOOK_TOTAL_WORDS) <= 10


def test_notebook_round_trip_and_checksums(notebook_data):
    q, model_list, ids, data = notebook_data
    back, checksums = seedbin.decode(data, matrices=100, rows=1024, cols=1024)
    assert back.dtype == np.uint8
    assert (back.reshape(100, -1) == ids).all()
    for i in (0, 17, 99):
        assert checksums[i] == fxhash26(ids[i])
        assert (model_list[i].values[back[i]] == q[i]).all()


def test_notebook_checksums_are_reproduced_by_some_tie_order(notebook_data):
    """The notebook printed checksums of its own ids, whose tie order came from numpy's unstable
    argsort. For each matrix with few tied counts, exactly one order of the tied values reproduces the
    printed checksum: the hash and id definitions are the notebook's, only the tie order differs."""
    q, model_list, ids, _ = notebook_data
    checked = 0
    for i, printed in enumerate(NOTEBOOK_CHECKSUMS):
        c = model_list[i].counts
        groups = [np.flatnonzero(c == u) for u in np.unique(c) if (c == u).sum() > 1]
        if math.prod(math.factorial(len(g)) for g in groups) > 24:
            continue
        hits = 0
        for perms in itertools.product(*[itertools.permutations(g) for g in groups]):
            rank = np.arange(c.size, dtype=np.uint8)
            for g, p in zip(groups, perms):
                rank[g] = p
            hits += fxhash26(rank[ids[i]]) == printed
        assert hits == 1, i
        checked += 1
    assert checked >= 12


# ---------------------------------------------------------------------------------------------------
# anspack mock


def test_cli_mock_writes_the_layout_and_prints_figures(tmp_path, capsys):
    from anspack.cli import main

    out = tmp_path / "m.bin"
    rc = main(["mock", "--matrices", "4", "--rows", "16", "--cols", "24", "--seed", "99", "-o", str(out), "--quiet"])
    assert rc == 0
    q = seedbin.mock_matrices(4, 16, 24, seed=99)
    data = out.read_bytes()
    assert data == seedbin.encode(q)
    text = capsys.readouterr().out
    lay = seedbin.parse_layout(data, matrices=4, rows=16, cols=24)
    _, checksums = seedbin.decode(data, matrices=4, rows=16, cols=24)
    assert f"total words (coder heads + data, the notebook's len(compressed_stream)): {lay.stream_words:,}" in text
    assert f"bits/entry: {lay.stream_words * 16 / q.size:.6f}" in text
    assert " ".join(f"{s:>8}" for s in lay.sizes.tolist()) in text
    for i, h in enumerate(checksums):
        assert f"checksum of matrix {i}: {h}\n" in text


def test_cli_mock_usage_errors(tmp_path, capsys):
    from anspack.cli import main

    assert main(["mock", "--matrices", "0", "-o", str(tmp_path / "x.bin")]) == 2
    assert "--matrices must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x.bin").exists()
