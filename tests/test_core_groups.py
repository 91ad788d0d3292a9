"""Row groups (coding 2, spec section 7.4, revision 4) in the Python encoder and decoder.

The structural oracle parses a coding-2 block field by field as the spec's table reads, and checks
that each sub-block is byte for byte the coding-0 block of its group's rows (the rows of that group in
increasing row order) coded on their own with the same options."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import anspack
from anspack import grouping
from anspack.api import encode_tensor
from anspack.checksum import fxhash26, fxhash26_bytes
from anspack.container import align8


def mixed_rows(rng, R=64, C=512, dtype=np.int8):
    """Rows quantized per row: a third with an outlier (entries near 0), the rest spread out."""
    scales = np.where(rng.random(R) < 1 / 3, 0.8, 3.0)
    a = np.round(rng.standard_normal((R, C)) * scales[:, None])
    return np.clip(a, -7, 7).astype(dtype)


def spec_parse(data: bytes, name: str) -> dict:
    """Section 7.4's table, read by hand."""
    t = anspack.read_header(data)[name]
    o, R = t.data_offset, t.shape[0]
    G, reserved = struct.unpack_from("<II", data, o)
    sizes = struct.unpack_from(f"<{G}Q", data, o + 8)
    checks = struct.unpack_from(f"<{G}I", data, o + 8 + 8 * G)
    b = (G - 1).bit_length()
    M = math.ceil(R * b / 8)
    m = int.from_bytes(data[o + 8 + 12 * G:o + 8 + 12 * G + M], "little")
    rows = [(m >> (r * b)) & ((1 << b) - 1) for r in range(R)]
    assert m >> (R * b) == 0 and reserved == 0
    H = align8(8 + 12 * G + M)
    assert not any(data[o + 8 + 12 * G + M:o + H])
    offsets = [H]
    for g in range(1, G):
        offsets.append(align8(offsets[-1] + sizes[g - 1]))
    assert offsets[-1] + sizes[-1] == t.data_size
    subs = [data[o + offsets[g]:o + offsets[g] + sizes[g]] for g in range(G)]
    return dict(t=t, G=G, rows=rows, checks=checks, subs=subs, offsets=offsets)


def test_sub_blocks_are_the_groups_coded_on_their_own():
    rng = np.random.default_rng(1)
    a = mixed_rows(rng, R=21, C=40)
    row_map = rng.integers(0, 5, 21)
    row_map[:5] = np.arange(5)
    opts = dict(lanes=3, precision=11, chunk=50, pairs="product")
    data = anspack.encode({"w": a}, groups={"w": row_map}, **opts)
    p = spec_parse(data, "w")
    assert p["t"].coding == "groups" and p["G"] == 5 and p["rows"] == row_map.tolist()
    for g in range(5):
        alone = encode_tensor("w", a[row_map == g], groups=False, **opts)
        assert p["subs"][g] == alone.data
        assert p["checks"][g] == alone.checksum
    assert p["t"].checksum == fxhash26(list(p["checks"]))
    # block_checksum: every byte of the block but the sub-blocks' words, in file order
    t, h, pos = p["t"], 0, p["t"].data_offset
    for g, s in enumerate(t.groups):
        words_at = s.data_offset + s.data_size - 2 * s.words
        h = fxhash26_bytes(data[pos:words_at], h)
        pos = s.data_offset + s.data_size
    assert h == t.block_checksum
    out = anspack.decode(data)["w"]
    assert out.dtype == a.dtype and np.array_equal(out, a)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32"])
@pytest.mark.parametrize("G", [2, 3, 9, 256])
def test_roundtrip_dtypes_and_group_counts(dtype, G):
    rng = np.random.default_rng(G)
    R = max(G, 12)
    a = (mixed_rows(rng, R=R, C=7).astype(np.int64) + (10 if dtype.startswith("u") else 0)).astype(dtype)
    rows = np.arange(R) % G
    data = anspack.encode({"x": a.reshape(R, 7, 1)}, groups={"x": rows})
    t = anspack.read_header(data)["x"]
    assert t.coding == "groups" and len(t.groups) == G and t.row_groups.tolist() == rows.tolist()
    assert [s.shape[0] for s in t.groups] == np.bincount(rows).tolist()
    out = anspack.decode(data)["x"]
    assert out.dtype == a.dtype and np.array_equal(out.reshape(R, 7), a)


def test_auto_groups_mixed_rows_and_not_iid_rows():
    rng = np.random.default_rng(7)
    mixed = mixed_rows(rng, R=128, C=512)
    iid = np.clip(np.round(rng.standard_normal((128, 512)) * 2), -7, 7).astype(np.int8)
    data = anspack.encode({"mixed": mixed, "iid": iid})
    h = anspack.read_header(data)
    assert h["mixed"].coding == "groups" and h["iid"].coding == "rans"
    one = anspack.encode({"mixed": mixed}, groups=False)
    assert anspack.read_header(one)["mixed"].data_size > h["mixed"].data_size * 1.01
    # the groups found are the two row scales (k-means under the groups' code lengths)
    rows = h["mixed"].row_groups
    small = np.abs(mixed).mean(axis=1) < 1.2
    assert len(set(rows[small])) == 1 and len(set(rows[~small])) <= 3 and rows[small][0] not in rows[~small]
    out = anspack.decode(data)
    assert np.array_equal(out["mixed"], mixed) and np.array_equal(out["iid"], iid)
    # deterministic: the same bytes on one or two threads
    assert anspack.encode({"mixed": mixed, "iid": iid}, threads=1) == anspack.encode({"mixed": mixed, "iid": iid},
                                                                                     threads=2) == data


@pytest.mark.parametrize("dtype", ["i1", "i2", "u2"])
def test_big_endian_input_groups_like_native(dtype):
    """An npz may hold big-endian arrays: the row histograms (Numba) see them in native order, and the
    file is byte for byte the native array's (this crashed in Numba's typing before)."""
    rng = np.random.default_rng(11)
    native = mixed_rows(rng, R=128, C=512, dtype=np.int16) + (8 if dtype[0] == "u" else 0)
    native = native.astype("<" + dtype)
    big = native.astype(">" + dtype)
    data = anspack.encode({"w": big})
    assert anspack.read_header(data)["w"].coding == "groups"
    assert data == anspack.encode({"w": native})
    assert np.array_equal(anspack.decode(data)["w"], native)


def test_auto_skips_small_tensors_and_large_vocabularies():
    rng = np.random.default_rng(3)
    small = mixed_rows(rng, R=16, C=512)  # 8192 entries < 2^15
    wide = (mixed_rows(rng, R=64, C=512).astype(np.int16) * 100 + rng.integers(0, 60, (64, 512))).astype(np.int16)
    h = anspack.read_header(anspack.encode({"small": small, "wide": wide}))
    assert h["small"].coding == "rans" and h["wide"].coding == "rans"
    assert anspack.read_header(anspack.encode({"small": small}, groups=4))["small"].coding == "groups"


def test_encoder_option_errors():
    a = np.zeros((4, 3), np.int8)
    with pytest.raises(ValueError, match="one per row"):
        anspack.encode({"a": a}, groups={"a": np.array([0, 1, 0])})
    with pytest.raises(ValueError, match="every group"):
        anspack.encode({"a": a}, groups={"a": np.array([0, 2, 0, 2])})
    with pytest.raises(ValueError, match="2 to 256"):
        anspack.encode({"a": a}, groups=300)
    with pytest.raises(ValueError, match="at least 2 rows"):
        anspack.encode({"s": np.array(3, np.int8)}, groups=2)
    with pytest.raises(ValueError, match="groups must be"):
        anspack.encode({"a": a}, groups="some")
    with pytest.raises(KeyError):
        anspack.encode({"a": a}, groups={"b": 2})
    # all rows alike: clustering finds one group, and the tensor stays coding 0
    assert anspack.read_header(anspack.encode({"a": a}, groups=2))["a"].coding == "rans"


def test_every_byte_of_a_grouped_file_is_covered():
    """Spec section 11: a corruption anywhere is a structural error or a checksum mismatch."""
    rng = np.random.default_rng(5)
    a = mixed_rows(rng, R=10, C=12)
    data = anspack.encode({"w": a}, groups={"w": np.arange(10) % 3}, lanes=2, chunk=20)
    missed = []
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        try:
            out = anspack.decode(bytes(bad))
        except anspack.FormatError:
            continue
        missed.append((i, np.array_equal(out["w"], a)))
    assert not missed


def test_cost_table_is_log2():
    table = grouping.cost_table()
    f = np.arange(1, (1 << 16) + 1)
    exact = (16 - np.log2(f)) * 65536
    assert np.all((table[1:] - exact > -1e-6) & (table[1:] - exact < 2)) and table[1 << 16] == 0  # log2 rounded down


def test_kmeans_separates_row_shapes_and_drops_empty_groups():
    rng = np.random.default_rng(11)
    a = mixed_rows(rng, R=90, C=300)
    rows = grouping.cluster_rows(a, 2)
    small = np.abs(a).mean(axis=1) < 1.2
    assert set(rows[small]) == {rows[small][0]} and rows[small][0] not in set(rows[~small])
    same = np.tile(a[:1], (20, 1))
    assert grouping.cluster_rows(same, 4).tolist() == [0] * 20


def test_row_map_bits_are_packed_lsb_first():
    from anspack.container import row_map_bytes
    assert row_map_bytes(np.array([1, 0, 1, 1, 0, 0, 0, 0, 1]), 2) == bytes([0b00001101, 0b1])
    assert row_map_bytes(np.array([4, 3, 2, 1, 0, 1, 2]), 5) == (
        4 | 3 << 3 | 2 << 6 | 1 << 9 | 0 << 12 | 1 << 15 | 2 << 18).to_bytes(3, "little")


def test_info_and_decode_tensor_show_groups(tmp_path):
    rng = np.random.default_rng(2)
    a = mixed_rows(rng, R=64, C=600)
    data = anspack.encode({"w": a, "v": a[:3, :5].copy()}, groups={"w": 3})
    assert np.array_equal(anspack.decode_tensor(data, "w"), a)
    from anspack.commands.info import stream_of
    s = stream_of(anspack.read_header(data)["w"])
    assert s.startswith("3 row groups: P") or s.startswith("2 row groups: P"), s
