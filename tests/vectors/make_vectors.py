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
    }


def expected(data: bytes, tensors: dict) -> dict:
    header = anspack.read_header(data)
    out = {"file_size": len(data), "metadata": header.metadata, "tensors": []}
    for t in header.tensors:
        a = np.asarray(tensors[t.name])
        entry = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "coding": t.coding,
                 "checksum": t.checksum}
        if t.coding == "rans":
            entry.update(vocab_size=t.vocab_size, lanes=t.lanes, words=t.words, precision=t.precision)
        flat = a.reshape(-1)
        if a.dtype.kind == "f":
            entry["bits"] = flat.view(f"u{a.dtype.itemsize}").tolist()
        else:
            entry["data"] = flat.tolist()
        out["tensors"].append(entry)
    return out


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


def build() -> dict[str, bytes]:
    """All vector files: relative path -> bytes."""
    files: dict[str, bytes] = {}
    for name, v in vectors().items():
        data = anspack.encode(v["tensors"], metadata=v.get("metadata"), **v.get("options", {}))
        files[f"{name}.anspack"] = data
        files[f"{name}.json"] = (json.dumps(expected(data, v["tensors"]), indent=1, ensure_ascii=False) + "\n").encode()
    index = {}
    for name, (data, code) in bad_files(files["worked_example.anspack"]).items():
        files[f"bad/{name}.anspack"] = data
        index[name] = code
    files["bad/index.json"] = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
    return files


def main() -> int:
    for rel, data in build().items():
        (HERE / rel).parent.mkdir(parents=True, exist_ok=True)
        (HERE / rel).write_bytes(data)
        print(f"wrote tests/vectors/{rel} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
