"""Write the golden vectors in tests/vectors/ (run from the repo root: python tests/vectors/make_vectors.py).

Each ``NAME.anspack`` has a ``NAME.json`` beside it with what a decoder must return: per tensor the name,
shape, dtype, checksum, rANS parameters, and the entries (for float dtypes, their bit patterns as
unsigned integers, in ``bits``). ``bad/NAME.anspack`` files are malformed on purpose; ``bad/index.json``
maps each to the error code both decoders must raise. tests/test_core_vectors.py checks that the
encoder still writes these bytes exactly.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

import anspack
from anspack.container import HEADER_SIZE, header_checksum, values_size
from anspack.checksum import fxhash26


def _encode(tensors, **options):
    """anspack.encode, entropy-coding every integer tensor (the vectors' tiny tensors would otherwise be
    stored raw by the raw="auto" default), unless the vector names its raw tensors."""
    options.setdefault("raw", False)
    return anspack.encode(tensors, **options)

HERE = Path(__file__).resolve().parent


def worked_example() -> dict:
    w = np.array([[0, 1, 0, -1, 0, 0, 2, 0], [0, 0, -1, 0, 1, 0, 0, -2], [3, 0, 1, 0, -1, 0, 0, 1]],
                 dtype=np.int8)
    return dict(tensors={"w": w}, options=dict(lanes=2, precision=4))


def vectors() -> dict[str, dict]:
    rng = np.random.default_rng(20241124)
    gauss = np.round(rng.standard_normal((16, 24)) * 3).astype(np.int8)
    return {
        "worked_example": worked_example(),
        "dtypes": dict(tensors={
            "i8": np.round(rng.standard_normal((3, 5)) * 10).astype(np.int8),
            "u8": rng.integers(0, 256, size=(7,), dtype=np.uint8),
            "i16": rng.integers(-30000, 30000, size=(2, 3), dtype=np.int16),
            "u16": rng.integers(60000, 65536, size=(4,), dtype=np.uint16),
            "i32": np.array([-2**31, 2**31 - 1, 0, -1, 7], dtype=np.int32),
            "u32": np.array([0, 2**32 - 1, 123456789, 2**31], dtype=np.uint32),
            "f16": np.array([0.5, -1.25, 65504, np.inf], dtype=np.float16),
            "f32": np.array([[1.5, -0.0], [3.25e-3, 1e30]], dtype=np.float32),
        }, options=dict(lanes=3), metadata={"source": "anspack test vectors", "unicode": "π≈3.14"}),
        "edge_cases": dict(tensors={
            "empty": np.zeros((0, 4), dtype=np.int8),
            "scalar": np.array(-5, dtype=np.int16),
            "constant": np.full((10, 10), 7, dtype=np.int8),
            "one": np.array([3], dtype=np.uint8),
            "raw_int": np.arange(6, dtype=np.int16).reshape(2, 3),
        }, options=dict(raw=["raw_int"])),
        "lanes_eq_n": dict(tensors={"g": gauss}, options=dict(lanes=gauss.size)),
        "lanes_1_p15": dict(tensors={"g": gauss}, options=dict(lanes=1, precision=15)),
        "lanes_7_p8": dict(tensors={"g": gauss, "h": (gauss // 2).astype(np.int8)}, options=dict(lanes=7, precision=8)),
        "names": dict(tensors={"encoder.layer.0.attention.self.query.weight": gauss[:2, :3],
                               "名前/ü": gauss[2:3, :2]}),
        # spec section 7.1: pairs of int8 / uint8 entries as one symbol
        "pairs": dict(tensors={
            "i4": np.clip(gauss // 2, -7, 7).astype(np.int8),
            "u8": rng.integers(0, 4, size=(30, 10), dtype=np.uint8),
            "two": np.array([-128, 127], dtype=np.int8),
        }, options=dict(lanes=3, precision=10, pairs=True)),
        # spec section 7.2: chunks (the last one shorter; "short" has a last chunk of fewer symbols than L)
        "chunks": dict(tensors={
            "g": gauss,
            "short": np.array([5, -3, 5, 5, 0, 5, -3, 5, 2, 5], dtype=np.int16),
            "u32": rng.integers(0, 5, size=(400,), dtype=np.uint32) * 1000003,
        }, options=dict(lanes=3, precision=9, chunk={"g": 100, "short": 4, "u32": 70})),
        "pairs_chunks": dict(tensors={"p": np.clip(gauss, -3, 3).astype(np.int8)},
                             options=dict(lanes=2, precision=11, pairs=True, chunk=50)),
        # spec section 7.3: PRODUCT pairs (the entries' model stored, the pairs' derived)
        "product": dict(tensors={
            "i4": np.clip(gauss // 2, -7, 7).astype(np.int8),
            "u8": rng.integers(0, 4, size=(30, 10), dtype=np.uint8),
            "two": np.array([-128, 127], dtype=np.int8),
            "v32": (np.arange(64, dtype=np.int64) * 7 % 32 - 16).astype(np.int8),  # V^2 = 2^P exactly
        }, options=dict(lanes=3, precision=10, pairs="product")),
        "product_chunks": dict(tensors={"p": np.clip(gauss, -3, 3).astype(np.int8),
                                        "u": (rng.integers(0, 3, size=(300,)) * 100).astype(np.uint8)},
                               options=dict(lanes=2, precision=11, pairs="product", chunk=50)),
        # spec section 7.4: coding 2, row groups (explicit row maps; G = 3, 2, 5 with R·b = 21 bits, and
        # sub-blocks with PRODUCT pairs and with chunks)
        "groups": dict(tensors={
            "m": np.concatenate([gauss[:4] // 4, gauss[4:8], gauss[8:12] * 2]).astype(np.int8)[
                [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]],
            "u16": np.array([[7, 7, 9], [1000, 2, 3], [7, 9, 7], [7, 7, 7], [3, 1000, 2]], dtype=np.uint16),
            "g5": np.clip(gauss[:7, :4], -4, 4).astype(np.int8),
            "p": np.clip(gauss[:6, :8] // 2, -3, 3).astype(np.int8),
            "c": np.clip(gauss[:8], -6, 6).astype(np.int8).reshape(8, 2, 12),
        }, options=dict(lanes=2, precision=9, pairs={"p": "product"}, chunk={"c": 60}, groups={
            "m": np.array([0, 1, 2] * 4), "u16": np.array([1, 0, 1, 1, 0]), "g5": np.array([4, 3, 2, 1, 0, 1, 2]),
            "p": np.array([0, 1, 1, 0, 0, 1]), "c": np.array([0, 0, 1, 1, 1, 0, 1, 0])})),
    }


def expected(data: bytes, tensors: dict) -> dict:
    header = anspack.read_header(data)
    out = {"file_size": len(data), "metadata": header.metadata, "tensors": []}
    for t in header.tensors:
        a = np.asarray(tensors[t.name])
        entry = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "coding": t.coding,
                 "checksum": t.checksum}
        if t.coding == "rans":
            entry.update(_rans_fields(t))
        if t.coding == "groups":
            entry["row_groups"] = t.row_groups.tolist()
            entry["groups"] = [dict(rows=s.shape[0], checksum=s.checksum, **_rans_fields(s)) for s in t.groups]
        flat = a.reshape(-1)
        if a.dtype.kind == "f":
            entry["bits"] = flat.view(f"u{a.dtype.itemsize}").tolist()
        else:
            entry["data"] = flat.tolist()
        out["tensors"].append(entry)
    return out


def _rans_fields(t) -> dict:
    return dict(vocab_size=t.vocab_size, lanes=t.lanes, words=t.words, precision=t.precision, pairs=t.pairs,
                product=t.product, chunk=t.chunk, chunks=t.chunks)


def _set(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def _rehash_header(data: bytes) -> bytes:
    """Recompute header_checksum, so that a table change reaches the check behind it."""
    table_size, meta_size = struct.unpack_from("<II", data, 28)
    meta_end = HEADER_SIZE + table_size + meta_size
    return _set(data, 36, "<I", header_checksum(data, meta_end))


def bad_files(good: bytes) -> dict[str, tuple[bytes, str]]:
    """Malformed variants of the worked example, each with the error code a decoder must raise."""
    h = anspack.read_header(good)
    t = h.tensors[0]
    words_at = t.data_offset + t.data_size - 2 * t.words
    flipped = bytearray(good)
    flipped[words_at] ^= 0x01
    cdf_at = t.data_offset + 24 + 4 * t.lanes + values_size(t.vocab_size, t.dtype)
    return {
        "bad_magic": (b"\x89ANSPACX" + good[8:], "BadMagic"),
        "unsupported_version": (_set(good, 8, "<I", 2), "UnsupportedVersion"),
        "reserved_flags": (_set(good, 12, "<I", 1), "ReservedNonZero"),
        "truncated_header": (good[:20], "Truncated"),
        "truncated_body": (good[:-2], "Truncated"),
        "trailing_bytes": (_set(good + b"\0\0", 16, "<Q", len(good)), "SizeMismatch"),
        "offset_past_end": (_set(good, HEADER_SIZE, "<Q", len(good) + 8), "BadLayout"),
        "bad_dtype": (_set(good, HEADER_SIZE + 36, "<B", 99), "BadTable"),
        "bad_cdf": (_set(good, cdf_at + 2, "<H", 0), "BadModel"),
        "lanes_zero": (_set(good, t.data_offset + 4, "<I", 0), "BadModel"),
        "flipped_word": (bytes(flipped), "CorruptStream"),
        "bad_header_checksum": (_set(good, HEADER_SIZE + 32, "<I", (t.checksum + 1) & 0x3FFFFFF), "ChecksumMismatch"),
        "bad_ids_checksum": (_rehash_header(_set(good, HEADER_SIZE + 32, "<I", (t.checksum + 1) & 0x3FFFFFF)),
                             "ChecksumMismatch"),
        "bad_vocab_value": (_set(good, t.data_offset + 24 + 4 * t.lanes, "<b", 5), "ChecksumMismatch"),
    }


def _table_checksum_flipped(data: bytes, index: int) -> bytes:
    """Tensor ``index``'s table checksum with its bit 0 flipped, the header re-signed (so that the
    comparison of rule 9 is what fails)."""
    t = anspack.read_header(data, verify=False).tensors[index]
    return _rehash_header(_set(data, t.entry_offset + 32, "<I", t.checksum ^ 1))


def _resign(data: bytes, index: int = 0) -> bytes:
    """Recompute tensor ``index``'s block_checksum and the header_checksum after a change inside its
    data block's side bytes, so that the change reaches the checks behind them."""
    from anspack.container import BLOCK_CHECKSUM_AT, block_checksum
    t = anspack.read_header(data, verify=False).tensors[index]
    data = _set(data, t.entry_offset + BLOCK_CHECKSUM_AT, "<I", block_checksum(data, t))
    return _rehash_header(data)


def _words_over(data: bytes, t, table: int) -> bytes:
    """The last chunk claims one word more than its symbols; earlier chunks give words up so that the
    sum stays W."""
    K = t.chunks
    counts = list(struct.unpack_from(f"<{K}I", data, table))
    a, b = t.chunk_bounds(K - 1)
    need = b - a + 1 - counts[-1]
    counts[-1] = b - a + 1
    for k in range(K - 1):
        give = min(need, counts[k])
        counts[k] -= give
        need -= give
    assert need == 0, "the vector has too few words for this bad variant"
    return bytes(_pack_all(data, table, counts))


def _pack_all(data: bytes, at: int, values) -> bytearray:
    b = bytearray(data)
    struct.pack_into(f"<{len(values)}I", b, at, *values)
    return b


def bad_product_files(plain: bytes) -> dict[str, tuple[bytes, str]]:
    """Malformed variants for spec rev 3 (PRODUCT pairs, section 7.3): ``plain`` holds an unpaired int8
    tensor of odd length and an int16 tensor."""
    odd = anspack.read_header(plain).tensors[0]
    # 3 values at P = 3, unpaired: as PRODUCT pairs every other field would hold, but V^2 = 9 > 2^3
    small = _encode({"p": np.array([0, 1, 2, 0, 1, 2, 0, 0], dtype=np.int8)}, lanes=1, precision=3,
                           pairs=False, chunk=0)
    p = anspack.read_header(small).tensors[0]
    return {
        "product_without_pairs": (_set(plain, odd.data_offset + 17, "<B", 2), "BadModel"),
        "product_vocab_too_big": (_set(small, p.data_offset + 17, "<B", 3), "BadModel"),
    }


def bad_chunk_files(plain: bytes, chunked: bytes) -> dict[str, tuple[bytes, str]]:
    """Malformed variants for spec rev 2 (pairs, chunks): ``plain`` holds an unpaired, unchunked int8
    tensor of odd length and an int16 tensor; ``chunked`` the pairs_chunks vector."""
    odd, i16 = anspack.read_header(plain).tensors
    t = anspack.read_header(chunked).tensors[0]
    o = t.data_offset
    K, L = t.chunks, t.lanes
    table = o + 24 + 4 * L * K  # chunk_words, then chunk_checksums
    words0, words1 = struct.unpack_from("<II", chunked, table)
    a0, b0 = t.chunk_bounds(0)
    cs0 = struct.unpack_from("<I", chunked, table + 4 * K)[0]
    return {
        "mode_reserved_bit": (_set(plain, odd.data_offset + 17, "<B", 4), "ReservedNonZero"),
        "pairs_odd_entries": (_set(plain, odd.data_offset + 17, "<B", 1), "BadModel"),
        "pairs_int16": (_set(plain, i16.data_offset + 17, "<B", 1), "BadModel"),
        "chunk_not_below_symbols": (_set(chunked, o + 20, "<I", t.symbols), "BadModel"),
        "chunk_below_lanes": (_set(chunked, o + 20, "<I", L - 1), "BadModel"),
        "chunk_without_tables": (_set(plain, i16.data_offset + 20, "<I", 2), "BadModel"),
        "chunk_words_sum": (_set(chunked, table, "<I", words0 + 1), "BadModel"),
        "chunk_words_over": (_words_over(chunked, t, table), "BadModel"),
        "chunk_checksum_bits": (_set(chunked, table + 4 * K, "<I", cs0 | 1 << 26), "BadModel"),
        "chunk_checksum_wrong": (_resign(_set(chunked, table + 4 * K, "<I", cs0 ^ 1)), "ChecksumMismatch"),
        "chunk_table_checksum": (_table_checksum_flipped(chunked, 0), "ChecksumMismatch"),
    }


def bad_group_files(grouped: bytes, plain: bytes) -> dict[str, tuple[bytes, str]]:
    """Malformed variants for spec rev 4 (row groups, section 7.4) of the ``groups`` vector (tensor 0:
    "m", G = 3, 12 rows, a 1-byte padding after its map; tensor 2: "g5", G = 5, 7 rows x 3 bits) and of
    ``plain`` (an int8 tensor of 15 entries, an int16 one)."""
    h = anspack.read_header(grouped)
    m, g5 = h.tensors[0], h.tensors[2]
    o, G = m.data_offset, 3
    map_at = o + 8 + 12 * G
    sizes_at, checks_at = o + 8, o + 8 + 8 * G
    map_m = bytearray(grouped[map_at:map_at + 3])
    out_of_range = bytearray(grouped)
    out_of_range[map_at] |= 0b11  # row 0 -> group 3
    empty = bytearray(grouped)
    for i in range(3):  # every row in groups 0 and 1 (bit 1 of each 2-bit field cleared)
        empty[map_at + i] = map_m[i] & 0b01010101
    high = bytearray(grouped)
    high[g5.data_offset + 8 + 12 * 5 + 2] |= 0x80  # bit 23: above the 7 x 3 bits of the map
    cs1 = struct.unpack_from("<I", grouped, checks_at + 4)[0]
    s2 = struct.unpack_from("<Q", grouped, sizes_at + 16)[0]
    odd = anspack.read_header(plain).tensors[0]
    return {
        "groups_count_one": (_set(grouped, o, "<I", 1), "BadModel"),
        "groups_count_over_rows": (_set(grouped, o, "<I", 13), "BadModel"),
        "groups_reserved": (_set(grouped, o + 4, "<I", 1), "ReservedNonZero"),
        "groups_row_out_of_range": (bytes(out_of_range), "BadModel"),
        "groups_empty_group": (bytes(empty), "BadModel"),
        "groups_map_high_bits": (bytes(high), "ReservedNonZero"),
        "groups_padding": (_set(grouped, map_at + 3, "<B", 1), "ReservedNonZero"),
        "groups_size_past_block": (_set(grouped, sizes_at, "<Q", m.data_size), "BadModel"),
        "groups_size_short": (_set(grouped, sizes_at + 16, "<Q", s2 - 2), "BadModel"),
        "groups_checksum_bits": (_set(grouped, checks_at + 4, "<I", cs1 | 1 << 26), "BadModel"),
        "groups_checksum_wrong": (_resign(_set(grouped, checks_at + 4, "<I", cs1 ^ 1)), "ChecksumMismatch"),
        "groups_table_checksum": (_table_checksum_flipped(grouped, 0), "ChecksumMismatch"),
        "groups_one_row": (_rehash_header(_set(_set(plain, odd.entry_offset + 37, "<B", 2), odd.entry_offset + 48,
                                               "<Q", 1)), "BadTable"),
        "groups_ndim0": (_rehash_header(_set(_encode({"s": np.array(3, np.int8)}), HEADER_SIZE + 37, "<B", 2)),
                         "BadTable"),
        "groups_float": (_rehash_header(_set(_encode({"f": np.ones((2, 2), np.float32)}), HEADER_SIZE + 37,
                                             "<B", 2)), "BadTable"),
    }


def bad_precedence_files(chunks: bytes) -> dict[str, tuple[bytes, str]]:
    """Variants for the error names and orders that spec sections 3, 5, 6, 7, 12 and 13 spell out (found
    unclear by a decoder written from the spec alone): short files, an empty rANS block's P, padding
    between blocks, a metadata byte order mark, a dequant block's header (checked without
    dequantization), the unused lane of a short last chunk, and the order of a chunked tensor's checks.
    ``chunks`` is the chunks vector (tensor 0: "g", 3 or more chunks; tensor 1: "short", N = 10, L = 3,
    Q = 4, so lane 2 of its last chunk gets no symbol)."""
    out = {}
    good = _encode({"x": np.arange(-6, 6, dtype=np.int8).reshape(3, 4)})
    out["short_wrong_magic"] = (b"\x89ANSX", "BadMagic")      # 5 bytes, not the magic's start
    out["short_magic_prefix"] = (good[:5], "Truncated")        # 5 bytes of the magic
    out["empty_file"] = (b"", "Truncated")
    empty = _encode({"e": np.zeros((0, 3), np.int16)})
    e = anspack.read_header(empty).tensors[0]
    out["empty_block_precision_zero"] = (_set(empty, e.data_offset + 16, "<B", 0), "BadModel")  # before any checksum
    two = _encode({"a": np.arange(-2, 3, dtype=np.int8), "b": np.array([1, 2, 1, 1], np.int16)})
    a = anspack.read_header(two).tensors[0]
    assert (a.data_offset + a.data_size) % 8, "the vector needs padding after tensor a"
    out["padding_between_blocks"] = (_set(two, a.data_offset + a.data_size, "<B", 1), "ReservedNonZero")
    meta = _encode({"x": np.arange(4, dtype=np.int8)}, metadata={"abcd": 1})   # {"abcd":1}: 10 bytes
    at = meta.index(b'{"abcd":1}')
    out["metadata_bom"] = (_rehash_header(meta[:at] + b'\xef\xbb\xbf{"a":1}' + meta[at + 10:]), "BadMetadata")
    trellis = struct.pack("<IIQfI", 4, 0, 8, 0.5, 0)
    dq = _encode({"x": np.arange(-6, 6, dtype=np.int8)}, dequant={"x": trellis})
    d = anspack.read_header(dq).tensors[0]
    out["dequant_reserved"] = (_set(dq, d.dequant_offset + 4, "<I", 1), "ReservedNonZero")
    out["dequant_body_size"] = (_set(dq, d.dequant_offset + 8, "<Q", 16), "BadDequant")
    short = _encode({"x": np.arange(-6, 6, dtype=np.int8)}, dequant={"x": struct.pack("<II", 4, 0)})
    out["dequant_size_short"] = (short, "BadDequant")
    big, small = anspack.read_header(chunks).tensors[:2]
    assert small.lanes == 3 and small.chunk == 4 and small.symbols == 10
    unused = small.data_offset + 24 + 4 * (2 * 3 + 2)   # chunk 2, lane 2
    out["chunk_unused_lane_state"] = (_resign(_set(chunks, unused, "<I", 70000), 1), "CorruptStream")
    K = big.chunks
    table = big.data_offset + 24 + 4 * big.lanes * K
    w0 = struct.unpack_from("<I", chunks, table)[0]
    sums = list(struct.unpack_from(f"<{K}I", chunks, table + 4 * K))
    sums[0] ^= 1
    corrupt1 = bytearray(chunks)
    corrupt1[big.data_offset + big.data_size - 2 * big.words + 2 * w0] ^= 0x40   # chunk 1's first word
    first = _pack_all(bytes(corrupt1), table + 4 * K, sums)
    first = _set(bytes(first), big.entry_offset + 32, "<I", fxhash26(sums))
    out["chunk_order_chunk0_first"] = (_resign(first), "ChecksumMismatch")
    out["chunk_order_table_last"] = (_table_checksum_flipped(bytes(corrupt1), 0), "CorruptStream")
    return out


def bad_dequantize_files() -> dict[str, tuple[bytes, str, str]]:
    """Files whose error depends on dequantization (spec section 12, rule 10 of section 13): name ->
    (bytes, the error decoding with dequantization, the error decoding integers or "OK"). A dequant
    block's kind and body are checked only when dequantizing, after that tensor's checksums and before
    the next tensor's."""
    q = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    unknown = struct.pack("<IIQ", 9, 0, 8) + bytes(8)                          # kind 9: not defined
    lut = struct.pack("<IIQiI", 2, 0, 8 + 4 * 5, 0, 5) + np.zeros(5, np.float32).tobytes()  # q - 0 < 5 fails for q < 0

    kind_first = _encode({"a": q, "b": q}, dequant={"a": unknown})
    kind_second = _encode({"a": q, "b": q}, dequant={"b": unknown})
    return {
        "dequant_unknown_kind": (_encode({"a": q}, dequant={"a": unknown}), "UnsupportedDequant", "OK"),
        "dequant_lut_index_range": (_encode({"a": q}, dequant={"a": lut}), "BadDequant", "OK"),
        # tensor a's unknown kind comes before tensor b's checksum ...
        "dequant_order_kind_then_checksum": (_table_checksum_flipped(kind_first, 1), "UnsupportedDequant", "ChecksumMismatch"),
        # ... and after tensor a's own checksum: b's kind after a's checksum, a's kind after a's
        "dequant_order_checksum_then_kind": (_table_checksum_flipped(kind_second, 0), "ChecksumMismatch", "ChecksumMismatch"),
        "dequant_order_own_checksum_first": (_table_checksum_flipped(kind_first, 0), "ChecksumMismatch", "ChecksumMismatch"),
    }


def build() -> dict[str, bytes]:
    """All vector files: relative path -> bytes."""
    files: dict[str, bytes] = {}
    for name, v in vectors().items():
        data = _encode(v["tensors"], metadata=v.get("metadata"), **v.get("options", {}))
        files[f"{name}.anspack"] = data
        files[f"{name}.json"] = (json.dumps(expected(data, v["tensors"]), indent=1, ensure_ascii=False) + "\n").encode()
    index = {}
    plain = _encode({"odd": np.arange(-7, 8, dtype=np.int8), "i16": np.array([1, -1, 1, 2], np.int16)},
                           lanes=2, precision=6, pairs=False, chunk=0)
    bad = bad_files(files["worked_example.anspack"])
    bad.update(bad_chunk_files(plain, files["pairs_chunks.anspack"]))
    bad.update(bad_product_files(plain))
    bad.update(bad_group_files(files["groups.anspack"], plain))
    bad.update(bad_precedence_files(files["chunks.anspack"]))
    # an empty tensor's checksum is that of the empty sequence, 0 (section 11); header re-signed
    empty = _encode({"e": np.zeros((2, 0), np.int16)})
    e = anspack.read_header(empty).tensors[0]
    bad["empty_checksum"] = (_rehash_header(_set(empty, e.entry_offset + 32, "<I", 1 << 17)), "ChecksumMismatch")
    for name, (data, code) in bad.items():
        files[f"bad/{name}.anspack"] = data
        index[name] = code
    files["bad/index.json"] = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
    deq = {}
    for name, (data, code, integers) in bad_dequantize_files().items():
        files[f"bad/{name}.anspack"] = data
        deq[name] = {"dequantize": code, "integers": integers}
    files["bad/dequantize.json"] = (json.dumps(deq, indent=1, sort_keys=True) + "\n").encode()
    return files


def main() -> int:
    for rel, data in build().items():
        (HERE / rel).parent.mkdir(parents=True, exist_ok=True)
        (HERE / rel).write_bytes(data)
        print(f"wrote tests/vectors/{rel} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
