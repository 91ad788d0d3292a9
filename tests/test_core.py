"""Core format tests: round trips, determinism, edge cases, compression, bad input (Python decoder)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import anspack
from anspack.checksum import fxhash26_reference
from anspack.container import HEADER_SIZE, RANS_HEADER_SIZE
from anspack.model import build_model, entropy_bits, quantize_counts

INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32"]


def roundtrip(tensors, **opts):
    data = anspack.encode(tensors, **opts)
    out = anspack.decode(data)
    assert list(out) == list(tensors)
    for name, a in tensors.items():
        a = np.asarray(a)
        b = out[name]
        assert b.dtype == a.dtype and b.shape == a.shape, name
        np.testing.assert_array_equal(b, a)
    return data


@settings(max_examples=60, deadline=None)
@given(
    arr=hnp.arrays(dtype=st.sampled_from(INT_DTYPES), shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=9)),
    lanes=st.integers(1, 40),
    precision=st.integers(9, 15),
)
def test_roundtrip_hypothesis(arr, lanes, precision):
    roundtrip({"t": arr}, lanes=lanes, precision=precision)


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 8, 32, 255, 10_000])
def test_roundtrip_gaussian(dtype, lanes):
    rng = np.random.default_rng(lanes)
    info = np.iinfo(dtype)
    a = np.clip(np.round(rng.standard_normal((37, 53)) * 6) + (0 if info.min < 0 else 40), info.min, info.max).astype(dtype)
    data = roundtrip({"g": a}, lanes=lanes)
    t = anspack.read_header(data)["g"]
    assert t.lanes == min(lanes, a.size)


@pytest.mark.parametrize("precision", range(1, 16))
def test_every_precision(precision):
    rng = np.random.default_rng(precision)
    k = min(1 << precision, 6)
    a = rng.integers(0, k, size=500).astype(np.int16)
    roundtrip({"a": a}, precision=precision, lanes=5)


def test_extremes_of_int32_and_uint32():
    a = np.array([-2**31, 2**31 - 1, 0, -1, 5, 5], dtype=np.int32)
    b = np.array([0, 2**32 - 1, 2**31, 2**31 - 1, 7, 7], dtype=np.uint32)
    roundtrip({"a": a, "b": b}, lanes=2)


def test_lanes_per_tensor_mapping():
    t = {"a": np.arange(100, dtype=np.int8), "b": np.arange(100, dtype=np.int8), "c": (np.arange(3000) % 9).astype(np.uint8)}
    h = anspack.read_header(roundtrip(t, lanes={"a": 7}, raw=False))
    # the default: 8 lanes, but one per 1024 symbols in small tensors
    assert (h["a"].lanes, h["b"].lanes, h["c"].lanes) == (7, 1, 3)
    big = {"d": np.arange(10_000, dtype=np.int16) % 300}
    assert anspack.read_header(roundtrip(big))["d"].lanes == 8
    with pytest.raises(KeyError, match="e"):
        anspack.encode(t, lanes={"e": 2})


def test_edge_cases():
    tensors = {
        "empty": np.zeros((3, 0, 2), dtype=np.int8),
        "scalar": np.array(-7, dtype=np.int8),
        "single_value": np.full((64, 64), 3, dtype=np.uint8),
        "lanes_eq_n": np.arange(-50, 50, dtype=np.int16),
    }
    data = roundtrip(tensors, lanes=100)
    h = anspack.read_header(data)
    assert (h["empty"].vocab_size, h["empty"].lanes, h["empty"].words) == (0, 0, 0)
    assert h["empty"].checksum == 0
    assert (h["single_value"].vocab_size, h["single_value"].words) == (1, 0)
    assert h["scalar"].shape == () and h["scalar"].lanes == 1
    assert h["lanes_eq_n"].lanes == 100


def test_float_and_raw_tensors_are_stored_bit_exact():
    rng = np.random.default_rng(1)
    f32 = rng.standard_normal((5, 7)).astype(np.float32)
    f32[0, 0] = np.nan
    f16 = rng.standard_normal(9).astype(np.float16)
    data = anspack.encode({"f32": f32, "f16": f16, "i": np.arange(12, dtype=np.int16)}, raw=["i"])
    out = anspack.decode(data)
    assert out["f32"].tobytes() == f32.tobytes() and out["f16"].tobytes() == f16.tobytes()
    h = anspack.read_header(data)
    assert [t.coding for t in h.tensors] == ["raw", "raw", "raw"]
    assert h["f16"].checksum == fxhash26_reference(f16.view(np.uint16))
    # 4-byte entries are hashed as two u16 halves, so a flip in the top bits is caught too
    assert h["f32"].checksum == fxhash26_reference(f32.reshape(-1).view(np.uint16))
    for byte in (3, 7):  # bits 24-31 of an entry
        bad = bytearray(data)
        bad[h["f32"].data_offset + byte] ^= 0x80
        with pytest.raises(anspack.ChecksumMismatch):
            anspack.decode(bytes(bad))
    assert anspack.decode(data, dequantize=True)["f16"].dtype == np.float32


def test_raw_auto_stores_a_tensor_raw_where_its_rans_block_is_not_smaller():
    rng = np.random.default_rng(11)
    tensors = {
        "norm": rng.integers(-120, 120, 384).astype(np.int8),  # ~200 distinct values: the model outweighs the data
        "w": np.round(rng.standard_normal((64, 96)) * 3).astype(np.int8),  # compressible
        "ids": rng.integers(0, 60000, 500).astype(np.uint16),  # 500 distinct u16 values
        "bias": np.round(rng.standard_normal(96) * 2).astype(np.int16),
        "empty": np.zeros((0, 4), np.int8),
    }
    auto = anspack.read_header(roundtrip(tensors))
    rans = anspack.read_header(roundtrip(tensors, raw=False))
    forced = anspack.read_header(roundtrip(tensors, raw=True))
    for name, a in tensors.items():
        # the smaller of the two blocks, raw on a tie
        want = "raw" if rans[name].data_size >= a.nbytes else rans[name].coding
        assert auto[name].coding == want, name
        assert auto[name].data_size == min(rans[name].data_size, forced[name].data_size), name
        assert forced[name].coding == "raw" and rans[name].coding == "rans", name
    assert [auto[n].coding for n in ("norm", "w", "ids", "empty")] == ["raw", "rans", "raw", "raw"]
    assert anspack.encode(tensors) == anspack.encode(tensors, raw="auto") == anspack.encode(tensors, threads=2)
    # a coding option given for a tensor means rANS for it
    h = anspack.read_header(roundtrip(tensors, lanes={"norm": 2}))
    assert (h["norm"].coding, h["norm"].lanes, h["ids"].coding) == ("rans", 2, "raw")
    assert anspack.read_header(anspack.encode(tensors, chunk={"norm": 100}))["norm"].coding == "rans"
    # (precision, a size knob like the default's, leaves the choice to "auto")
    assert anspack.read_header(anspack.encode(tensors, precision=12))["norm"].coding == "raw"
    assert anspack.read_header(anspack.encode(tensors, pairs={"norm": False}))["norm"].coding == "rans"
    # a mapping: True / False / "auto" per tensor ("auto" for those not named); names: those raw, no others
    h = anspack.read_header(roundtrip(tensors, raw={"w": True, "norm": False}))
    assert [h[n].coding for n in ("norm", "w", "ids")] == ["rans", "raw", "raw"]
    h = anspack.read_header(roundtrip(tensors, raw=["w"]))
    assert [h[n].coding for n in ("norm", "w", "ids")] == ["rans", "raw", "rans"]
    # the dequant block goes with the tensor either way
    from anspack import dequant

    blk = dequant.affine_block(np.float32(0.5))
    data = roundtrip(tensors, dequant={"norm": blk})
    assert anspack.read_header(data)["norm"].coding == "raw"
    np.testing.assert_array_equal(anspack.decode(data, dequantize=True)["norm"], tensors["norm"] * np.float32(0.5))
    with pytest.raises(ValueError, match="raw\\['w'\\] must be True, False or 'auto'"):
        anspack.encode(tensors, raw={"w": "yes"})
    with pytest.raises(ValueError, match="raw must be"):
        anspack.encode(tensors, raw="always")
    with pytest.raises(KeyError, match="nope"):
        anspack.encode(tensors, raw={"nope": True})


def test_big_endian_input_is_written_little_endian():
    a = np.arange(-5, 5, dtype=">i2")
    f = np.linspace(0, 1, 4, dtype=">f4")
    out = anspack.decode(anspack.encode({"a": a, "f": f}))
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["f"], f)


def test_determinism_same_bytes_twice():
    rng = np.random.default_rng(5)
    t = {"a": np.round(rng.standard_normal((64, 64)) * 4).astype(np.int8), "b": rng.standard_normal(3).astype(np.float32)}
    assert anspack.encode(t, metadata={"z": 1, "a": [1, 2]}) == anspack.encode(dict(t), metadata={"a": [1, 2], "z": 1})


def test_metadata_must_be_strict_json():
    with pytest.raises(ValueError, match="strict JSON"):
        anspack.encode({"x": np.zeros(1, np.int8)}, metadata={"x": float("nan")})
    data = anspack.encode({"x": np.zeros(1, np.int8)}, metadata={"x": 12345})
    bad = data.replace(b"12345", b"NaN  ")
    with pytest.raises(anspack.FormatError, match="NaN is not JSON"):
        anspack.decode(bad, verify=False)


def test_metadata_roundtrip_and_header_listing():
    data = anspack.encode({"x": np.zeros(3, np.int8)}, metadata={"model": "mlp", "n": 3, "nested": {"ü": [1.5]}})
    h = anspack.read_header(data)
    assert h.metadata == {"model": "mlp", "n": 3, "nested": {"ü": [1.5]}}
    assert [(t.name, t.shape, t.dtype) for t in h.tensors] == [("x", (3,), "int8")]


def test_checksum_is_fxhash26_of_ids_in_entry_order():
    rng = np.random.default_rng(2)
    a = rng.integers(-20, 20, size=(30, 11)).astype(np.int8)
    h = anspack.read_header(anspack.encode({"a": a}, raw=False))
    ids = build_model(a, 12).ids
    assert h["a"].checksum == fxhash26_reference(ids.tolist()) == anspack.fxhash26(ids)


def test_fxhash26_matches_spec_formula_on_random_ids():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 2**32, size=1000, dtype=np.uint64)
    assert anspack.fxhash26(ids) == fxhash26_reference(ids.tolist())
    with pytest.raises(ValueError):
        anspack.fxhash26(np.array([-1]))


def test_vocabulary_order_is_count_desc_then_value_asc():
    a = np.array([5, 5, -3, -3, 9, 1, 1, 1], dtype=np.int8)
    m = build_model(a, 12)
    assert m.values.tolist() == [1, -3, 5, 9]
    assert m.counts.tolist() == [3, 2, 2, 1]


def test_quantize_counts_rule():
    # exact half rounds to even: 3 * 16 / 32 = 1.5 -> 2, 1 * 16 / 32 = 0.5 -> 0 -> 1
    f = quantize_counts([28, 3, 1], 32, 4)
    assert f.sum() == 16 and f.min() >= 1
    assert f.tolist() == [13, 2, 1]  # [14, 2, 1] = 17 -> the most frequent pays the excess
    # every present symbol keeps at least 1 even when rounding gives 0, and V = 2^P works
    f = quantize_counts([1000] + [1] * 15, 1015, 4)
    assert f.tolist() == [1] * 16
    with pytest.raises(ValueError):
        quantize_counts([1] * 17, 17, 4)


def test_too_many_distinct_values_is_a_clear_error():
    a = np.arange(5000, dtype=np.int16)
    with pytest.raises(ValueError, match="5000 distinct values.*P=12"):
        anspack.encode({"wide": a}, precision=12)
    roundtrip({"wide": a}, precision=13)
    # the default precision rises to fit the vocabulary (up to 15), and no further
    assert anspack.read_header(anspack.encode({"wide": a}, raw=False))["wide"].precision == 13
    wider = {"wider": np.arange(40000, dtype=np.int32)}
    with pytest.raises(ValueError, match="40000 distinct values, more than the 2\\^15 of the highest precision"):
        anspack.encode(wider, raw=False)
    with pytest.raises(ValueError, match="40000 distinct values do not fit precision P=15"):
        anspack.encode(wider, precision=15)
    # raw="auto" (the default) stores it raw instead
    assert anspack.read_header(roundtrip(wider))["wider"].coding == "raw"
    with pytest.raises(ValueError, match="distinct values"):
        anspack.encode(wider, lanes=4)  # a coding option given: rANS or an error


def test_compression_within_one_percent_of_entropy():
    rng = np.random.default_rng(0)
    a = np.round(rng.standard_normal((1024, 1024)) * 8).astype(np.int8)
    H = entropy_bits(build_model(a, 12).counts)
    for lanes in (1, 32, 1024):
        data = anspack.encode({"m": a}, lanes=lanes)
        t = anspack.read_header(data)["m"]
        bits = 8 * t.data_size / a.size
        assert bits < H * 1.01, (lanes, bits, H)


def test_unsupported_inputs():
    with pytest.raises(TypeError, match="int64"):
        anspack.encode({"x": np.zeros(3, dtype=np.int64)})
    with pytest.raises(TypeError, match="bool"):
        anspack.encode({"x": np.zeros(3, dtype=bool)})
    with pytest.raises(ValueError, match="lanes"):
        anspack.encode({"x": np.zeros(3, dtype=np.int8)}, lanes=0)
    with pytest.raises(ValueError, match="precision"):
        anspack.encode({"x": np.zeros(3, dtype=np.int8)}, precision=16)
    with pytest.raises(KeyError):
        anspack.encode({"x": np.zeros(3, dtype=np.int8)}, raw=["y"])


def test_save_load_and_decode_tensor(tmp_path):
    t = {"a": np.arange(10, dtype=np.int8), "b": np.ones((2, 2), np.float32)}
    path = tmp_path / "m.anspack"
    size = anspack.save(path, t)
    assert path.stat().st_size == size
    out = anspack.load(path)
    np.testing.assert_array_equal(out["a"], t["a"])
    np.testing.assert_array_equal(anspack.decode_tensor(path.read_bytes(), "b"), t["b"])


# ---- bad input ---------------------------------------------------------------------------------


def _file():
    rng = np.random.default_rng(7)
    a = np.round(rng.standard_normal((40, 40)) * 5).astype(np.int8)
    return anspack.encode({"w": a}, lanes=4), a


def _patch(data, offset, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def test_every_truncation_is_rejected_with_truncated_or_bad_magic():
    data, _ = _file()
    for cut in list(range(0, 60)) + list(range(len(data) - 40, len(data))):
        with pytest.raises((anspack.Truncated, anspack.BadMagic)):
            anspack.decode(data[:cut])


@pytest.mark.parametrize("mutate,error,field", [
    (lambda d, t: b"GIF89a.." + d[8:], anspack.BadMagic, "magic"),
    (lambda d, t: _patch(d, 8, "<I", 7), anspack.UnsupportedVersion, "version 7"),
    (lambda d, t: _patch(d, HEADER_SIZE + 42, "<H", 1), anspack.ReservedNonZero, "reserved"),
    (lambda d, t: _patch(d, 36, "<I", 1 << 26), anspack.BadTable, "header_checksum"),
    (lambda d, t: _patch(d, 36, "<I", 1), anspack.ChecksumMismatch, "header_checksum"),
    (lambda d, t: _patch(d, HEADER_SIZE + 36, "<B", 2), anspack.ChecksumMismatch, "header_checksum"),
    (lambda d, t: _patch(d, t.entry_offset + 64, "<B", ord("v")), anspack.ChecksumMismatch, "header_checksum"),
    (lambda d, t: _patch(d, t.data_offset + RANS_HEADER_SIZE + 16, "<b", 99), anspack.ChecksumMismatch, "block_checksum"),
    (lambda d, t: _patch(d, 16, "<Q", len(d) + 1), anspack.Truncated, "file_size"),
    (lambda d, t: d + b"\0", anspack.SizeMismatch, "trailing"),
    (lambda d, t: _patch(d, 24, "<I", 9), anspack.BadTable, "9 tensors"),
    (lambda d, t: _patch(d, HEADER_SIZE, "<Q", 2**40), anspack.BadLayout, "data_offset"),
    (lambda d, t: _patch(d, HEADER_SIZE + 8, "<Q", 2**40), anspack.BadLayout, "runs past the end"),
    (lambda d, t: _patch(d, HEADER_SIZE + 16, "<Q", 8), anspack.BadLayout, "dequant_offset"),
    (lambda d, t: _patch(d, HEADER_SIZE + 32, "<I", 1 << 27), anspack.BadTable, "checksum"),
    (lambda d, t: _patch(d, HEADER_SIZE + 37, "<B", 5), anspack.BadTable, "coding"),
    (lambda d, t: _patch(d, HEADER_SIZE + 38, "<B", 9), anspack.BadTable, "ndim"),
    (lambda d, t: _patch(d, HEADER_SIZE + 40, "<H", 0), anspack.BadTable, "empty name"),
    (lambda d, t: _patch(d, HEADER_SIZE + 48, "<Q", 2**40), anspack.LimitExceeded, "max_entries"),
    (lambda d, t: _patch(d, t.data_offset, "<I", t.vocab_size + 1), anspack.BadModel, "need"),
    (lambda d, t: _patch(d, t.data_offset + 16, "<B", 16), anspack.BadModel, "precision"),
    (lambda d, t: _patch(d, t.data_offset + 8, "<Q", 2000), anspack.BadModel, "word count"),
    (lambda d, t: _patch(d, t.data_offset + RANS_HEADER_SIZE, "<I", 5), anspack.BadModel, r"below 2\^16"),
    (lambda d, t: _patch(d, t.data_offset + t.data_size - 2 * t.words - 2, "<H", 4095), anspack.BadModel, r"cdf\[V\]"),
    (lambda d, t: _patch(d, len(d) - 2, "<H", d[-2] ^ 0x40), anspack.CorruptStream, "lane"),
    (lambda d, t: _patch(d, HEADER_SIZE + 32, "<I", t.checksum ^ 1), anspack.ChecksumMismatch, "hash"),
])
def test_bad_input(mutate, error, field):
    data, _ = _file()
    t = anspack.read_header(data)["w"]
    bad = mutate(data, t)
    with pytest.raises(error, match=field) as info:
        anspack.decode(bad)
    assert "byte offset" in str(info.value)
    assert info.value.offset is not None


def test_declared_huge_tensor_is_rejected_before_allocation():
    # A valid single-valued tensor of 2^40 entries is a ~100-byte file: the entry limit must stop it.
    tiny = anspack.encode({"c": np.zeros(4, np.int8)}, lanes=1)
    t = anspack.read_header(tiny)["c"]
    huge = _patch(tiny, t.entry_offset + 48, "<Q", 2**40)
    with pytest.raises(anspack.LimitExceeded, match="max_entries"):
        anspack.decode(huge)
    with pytest.raises(anspack.LimitExceeded, match="2\\^53"):
        anspack.decode(_patch(tiny, t.entry_offset + 48, "<Q", 2**60), max_entries=2**62)


def test_total_entries_limit():
    t = {f"t{i}": np.zeros(1000, np.int8) for i in range(5)}
    data = anspack.encode(t)
    assert len(anspack.decode(data, max_total_entries=5000)) == 5
    with pytest.raises(anspack.LimitExceeded, match="5000 entries in all"):
        anspack.decode(data, max_total_entries=4999)


def test_flipped_words_never_decode_silently():
    data, a = _file()
    t = anspack.read_header(data)["w"]
    words_at = t.data_offset + t.data_size - 2 * t.words
    rng = np.random.default_rng(11)
    for _ in range(200):
        b = bytearray(data)
        pos = int(rng.integers(words_at, len(data)))
        b[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises((anspack.CorruptStream, anspack.ChecksumMismatch)):
            anspack.decode(bytes(b))


def test_every_single_byte_corruption_is_detected():
    """Every byte of the file is covered: structure checks, header/block checksums, ids checksum."""
    data, a = _file()
    for pos in range(len(data)):
        for bit in (0, 3, 7):
            b = bytearray(data)
            b[pos] ^= 1 << bit
            with pytest.raises(anspack.FormatError):
                anspack.decode(bytes(b))


def test_verify_false_skips_only_the_checksum_comparison():
    data, a = _file()
    t = anspack.read_header(data)["w"]
    bad = _patch(data, HEADER_SIZE + 32, "<I", t.checksum ^ 1)
    np.testing.assert_array_equal(anspack.decode(bad, verify=False)["w"], a)
