"""The public Python API: encode / decode / save / load / read_header.

    >>> import numpy as np, anspack
    >>> w = np.array([[0, 1, 0], [-1, 0, 0]], dtype=np.int8)
    >>> data = anspack.encode({"w": w}, lanes=2)
    >>> out = anspack.decode(data)
    >>> out["w"].dtype, out["w"].tolist()
    (dtype('int8'), [[0, 1, 0], [-1, 0, 0]])
    >>> anspack.read_header(data)["w"].checksum == anspack.fxhash26([0, 2, 0, 1, 0, 0])
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np

from . import container
from .checksum import fxhash26
from .container import CODING_RANS, CODING_RAW, DEFAULT_MAX_ENTRIES, Block, FileHeader, TensorInfo
from .errors import ChecksumMismatch, CorruptStream, LimitExceeded
from .model import build_model
from .rans import BAD_FINAL_STATE, LEFTOVER, OK, UNDERRUN, decode_interleaved, encode_interleaved

DEFAULT_LANES = 4
DEFAULT_MAX_TOTAL_ENTRIES = 1 << 30
DEFAULT_PRECISION = 12
RANS_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32")
RAW_DTYPES = RANS_DTYPES + ("float16", "float32")


def _raw_checksum(flat: np.ndarray) -> int:
    """FxHash26 of raw data in 16-bit units (bytes for 1-byte dtypes): FxHash26 ignores input bits
    above 26, so 32-bit values are hashed as their two little-endian halves (spec section 11)."""
    flat = np.ascontiguousarray(flat).reshape(-1)
    return fxhash26(flat.view("<u2") if flat.dtype.itemsize > 1 else flat.view("u1"))


def encode_tensor(name: str, array: np.ndarray, *, lanes: int | None = None, precision: int = DEFAULT_PRECISION,
                  raw: bool = False, dequant: bytes = b"") -> Block:
    """Model and code one tensor into a :class:`~anspack.container.Block` ready for the writer."""
    a = np.asarray(array)
    dtype = a.dtype.newbyteorder("=").name if a.dtype.byteorder not in "=|" else a.dtype.name
    if dtype == "bool":
        raise TypeError(f"tensor {name!r}: bool tensors are not supported; cast to uint8")
    if dtype not in RAW_DTYPES:
        raise TypeError(f"tensor {name!r}: dtype {a.dtype} is not supported (use one of {', '.join(RAW_DTYPES)})")
    flat = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).reshape(-1)
    if raw or dtype not in RANS_DTYPES:
        return Block(name, a.shape, dtype, CODING_RAW, _raw_checksum(flat), flat.tobytes(), dequant)
    try:
        model = build_model(flat.astype(dtype, copy=False), precision)
    except ValueError as e:
        raise ValueError(f"tensor {name!r}: {e}") from None
    n = flat.size
    if n == 0:
        L = 0
    else:
        L = DEFAULT_LANES if lanes is None else int(lanes)
        if L < 1:
            raise ValueError(f"tensor {name!r}: lanes must be at least 1, got {lanes}")
        L = min(L, n)
    states, words = encode_interleaved(model.ids, model.freqs, model.cdf, precision, L)
    data = container.rans_block(dtype, L, precision, states, model.values, model.cdf, words)
    return Block(name, a.shape, dtype, CODING_RANS, model.checksum, data, dequant,
                 side_size=len(data) - 2 * words.size)


def encode(tensors: Mapping[str, np.ndarray], *, lanes: int | Mapping[str, int] | None = None,
           precision: int = DEFAULT_PRECISION,
           metadata: dict | None = None, dequant: Mapping[str, bytes] | None = None,
           raw: Iterable[str] = ()) -> bytes:
    """Encode named tensors into the bytes of an .anspack file.

    Args:
        tensors: name -> array. Integer arrays (int8, uint8, int16, uint16, int32, uint32) are
            entropy-coded losslessly with rANS; float16/float32 arrays are stored raw.
        lanes: interleaved rANS lanes per tensor (default 4; clamped to the entry count), or a mapping
            name -> lanes (tensors not named get the default); see :func:`anspack.gpu.gpu_lanes` for
            many-lane layouts suited to GPU decoding.
        precision: probability precision P in bits (1-15, default 12). A tensor with more than 2^P
            distinct values raises ValueError.
        metadata: a JSON-serializable dict stored with the file.
        dequant: name -> a complete dequantization block (spec section 12) stored with that tensor.
        raw: names of integer tensors to store raw instead of entropy-coded.

    Returns:
        The file's bytes. Equal inputs and options give equal bytes.
    """
    raw = set(raw)
    dequant = dict(dequant or {})
    unknown = (raw | set(dequant) | (set(lanes) if isinstance(lanes, Mapping) else set())) - set(tensors)
    if unknown:
        raise KeyError(f"raw/dequant/lanes name tensors that are not given: {sorted(unknown)}")
    lanes_of = lanes.get if isinstance(lanes, Mapping) else (lambda name: lanes)
    blocks = [encode_tensor(name, arr, lanes=lanes_of(name), precision=precision, raw=name in raw,
                            dequant=dequant.get(name, b"")) for name, arr in tensors.items()]
    return container.write_file(blocks, metadata)


def read_header(data, *, max_entries: int = DEFAULT_MAX_ENTRIES, verify: bool = True) -> FileHeader:
    """Validate a file's header, table, metadata and layout and list its tensors without decoding.

    With ``verify`` (default) the header checksum over header, table and metadata is compared too.
    """
    return container.read_header(data, max_entries=max_entries, verify=verify)


def _decode_one(buf: memoryview, t: TensorInfo, *, verify: bool, dequantize: bool) -> np.ndarray:
    dt = np.dtype(t.dtype)
    if verify and t.coding == "raw":
        container.verify_block_checksum(buf, t)
    if t.coding == "raw":
        arr = np.frombuffer(buf, dtype=dt.newbyteorder("<"), count=t.size, offset=t.data_offset).astype(dt)
        if verify and _raw_checksum(arr) != t.checksum:
            raise ChecksumMismatch(f"raw data hashes to {_raw_checksum(arr)}, table says {t.checksum}",
                                   offset=t.entry_offset + 32, tensor=t.name)
    else:
        r = container.rans_arrays(buf, t)
        if verify:
            container.verify_block_checksum(buf, t)
        ids, h, status, where = decode_interleaved(r.states, r.words, r.cdf, t.precision, t.size)
        words_at = t.data_offset + t.data_size - 2 * t.words
        if status == UNDERRUN:
            raise CorruptStream(f"stream under-run: entry {where} needs a word after all {t.words} were read",
                                offset=t.data_offset + t.data_size, tensor=t.name)
        if status == LEFTOVER:
            raise CorruptStream(f"{t.words - where} of {t.words} words left over after the last entry",
                                offset=words_at + 2 * where, tensor=t.name)
        if status == BAD_FINAL_STATE:
            raise CorruptStream(f"lane {where} ends in a state other than 2^16",
                                offset=t.data_offset + container.RANS_HEADER_SIZE + 4 * where, tensor=t.name)
        assert status == OK
        if verify and h != t.checksum:
            raise ChecksumMismatch(f"decoded ids hash to {h}, table says {t.checksum}",
                                   offset=t.entry_offset + 32, tensor=t.name)
        arr = r.values.astype(dt)[ids] if t.size else np.zeros(0, dt)
    arr = arr.reshape(t.shape)
    if dequantize:
        if t.dequant_size:
            from .dequant import dequantize_block

            block = buf[t.dequant_offset:t.dequant_offset + t.dequant_size]
            arr = dequantize_block(block, arr, tensor=t.name, offset=t.dequant_offset)
        elif arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
    return arr


def decode(data, *, dequantize: bool = False, verify: bool = True, max_entries: int = DEFAULT_MAX_ENTRIES,
           max_total_entries: int = DEFAULT_MAX_TOTAL_ENTRIES) -> dict[str, np.ndarray]:
    """Decode every tensor of an .anspack file.

    Args:
        data: the file's bytes (bytes, bytearray, memoryview or a uint8 numpy array).
        dequantize: return float32 tensors, applying each tensor's dequantization descriptor
            (float16 tensors are widened; integer tensors without a descriptor stay integers).
        verify: compare each tensor's FxHash26 with the stored checksum (default True).
        max_entries: reject a tensor with more entries than this before allocating anything.
        max_total_entries: reject a file whose tensors hold more entries than this in all.

    Returns:
        name -> numpy array, in table order, with the stored names, shapes and dtypes.

    Raises:
        anspack.FormatError: a subclass named as in spec section 14, for any malformed file.
    """
    buf = memoryview(data).cast("B")
    header = container.read_header(buf, max_entries=max_entries, verify=verify)
    total = sum(t.size for t in header.tensors)
    if total > max_total_entries:
        raise LimitExceeded(f"the file's tensors hold {total} entries in all, above the limit "
                            f"max_total_entries={max_total_entries}", offset=container.HEADER_SIZE)
    return {t.name: _decode_one(buf, t, verify=verify, dequantize=dequantize) for t in header.tensors}


def decode_tensor(data, name: str, **options) -> np.ndarray:
    """Decode one tensor by name (the rest of the file is validated but not decoded)."""
    buf = memoryview(data).cast("B")
    header = container.read_header(buf, max_entries=options.get("max_entries", DEFAULT_MAX_ENTRIES),
                                   verify=options.get("verify", True))
    return _decode_one(buf, header[name], verify=options.get("verify", True),
                       dequantize=options.get("dequantize", False))


def save(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], **options) -> int:
    """Encode ``tensors`` (see :func:`encode`) and write them to ``path``. Returns the file size."""
    data = encode(tensors, **options)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def load(path: str | os.PathLike, **options) -> dict[str, np.ndarray]:
    """Read and decode the .anspack file at ``path`` (see :func:`decode` for the options)."""
    with open(path, "rb") as f:
        data = f.read()
    return decode(data, **options)
