"""The .anspack container: byte layout, writer and validating reader (spec/FORMAT.md sections 2-8, 13).

This module knows where bytes go; it does not model or code anything (except what a reader must
derive: the pair model of PRODUCT pairs, section 7.3, through anspack.model). The writer takes already
coded blocks, the reader returns validated views of them, checking every field against the file
before anything is allocated from it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .checksum import fxhash26, fxhash26_bytes
from .model import derive_product
from .errors import (
    BadDequant, BadLayout, ChecksumMismatch, BadMagic, BadMetadata, BadModel, BadTable, LimitExceeded, ReservedNonZero, SizeMismatch,
    Truncated, UnsupportedVersion,
)

MAGIC = b"\x89ANSPACK"
VERSION = 1
HEADER_SIZE = 40
ENTRY_FIXED_SIZE = 48
RANS_HEADER_SIZE = 24
DEQUANT_HEADER_SIZE = 16
MAX_NDIM = 8
MAX_PRECISION = 15
MAX_SAFE_ENTRIES = (1 << 53) - 1
DEFAULT_MAX_ENTRIES = 1 << 28  # per tensor (a 200-byte file can declare a huge single-valued tensor); callers may raise it

_HEADER = struct.Struct("<8sIIQIIII")  # magic, version, flags, file_size, count, table, meta, header_checksum
_ENTRY = struct.Struct("<QQQQIBBBBHHI")  # offsets/sizes, checksum, dtype, coding, ndim, res, name_len, res, block_checksum
HEADER_CHECKSUM_AT = 36
BLOCK_CHECKSUM_AT = 44  # within a table entry
_RANS = struct.Struct("<IIQBBHI")  # V, L, W, P, mode, reserved, chunk (Q)
MODE_PAIRS = 1  # rANS block mode bit 0 (spec section 7.1)
MODE_PRODUCT = 2  # rANS block mode bit 1, only with PAIRS: the stored model is the entries' (section 7.3)

CODING_RANS = 0
CODING_RAW = 1
CODING_GROUPS = 2  # rANS in row groups (spec section 7.4)
CODING_NAMES = {CODING_RANS: "rans", CODING_RAW: "raw", CODING_GROUPS: "groups"}
MAX_GROUPS = 256
_GROUPS = struct.Struct("<II")  # G, reserved

DTYPE_CODES = {
    "int8": 1, "uint8": 2, "int16": 3, "uint16": 4, "int32": 5, "uint32": 6, "float16": 7, "float32": 8,
}
CODE_DTYPES = {v: np.dtype(k) for k, v in DTYPE_CODES.items()}
RANS_DTYPES = frozenset(range(1, 7))


def align8(x: int) -> int:
    return (x + 7) & ~7


@dataclass
class TensorInfo:
    """One tensor table entry, plus the rANS block header for coding 0 (read without decoding).

    For coding 2 (row groups, spec section 7.4) ``groups`` holds one coding-0 TensorInfo per group,
    describing its sub-block (shape: the group's rows; checksum: the group's), and ``row_groups`` the
    group of each row.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    coding: str
    checksum: int
    data_offset: int
    data_size: int
    dequant_offset: int = 0
    dequant_size: int = 0
    entry_offset: int = 0
    block_checksum: int = 0
    vocab_size: int | None = None
    lanes: int | None = None
    words: int | None = None
    precision: int | None = None
    pairs: bool = False
    chunk: int = 0
    product: bool = False  # PRODUCT pairs (spec section 7.3): the stored vocabulary and CDF are the entries'
    # the RansArrays that read_header validated (rule 7), kept for the decoder so it does not check twice
    arrays: object = field(default=None, repr=False, compare=False)
    groups: list | None = field(default=None, repr=False)  # coding 2: the groups' sub-blocks, as coding-0 infos
    row_groups: np.ndarray | None = field(default=None, repr=False, compare=False)  # coding 2: uint8[R]
    group: int | None = None  # a group's sub-block (coding 2): which group
    size_at: int | None = None  # file offset of the field giving data_size (None: the table entry's)
    checksum_at: int | None = None  # file offset of the field giving checksum (None: the table entry's)

    @property
    def size_field(self) -> int:
        return self.entry_offset + 8 if self.size_at is None else self.size_at

    @property
    def checksum_field(self) -> int:
        return self.entry_offset + 32 if self.checksum_at is None else self.checksum_at

    @property
    def size(self) -> int:
        """Number of entries."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def symbols(self) -> int:
        """Number of coded symbols N: the entries, or half of them with pairs (spec section 7)."""
        return self.size // 2 if self.pairs else self.size

    @property
    def chunks(self) -> int:
        """Number of chunks K (1 for an unchunked tensor; 0 for a raw or empty one)."""
        if self.coding != "rans" or self.size == 0:
            return 0
        return -(-self.symbols // self.chunk) if self.chunk else 1

    def chunk_bounds(self, k: int) -> tuple[int, int]:
        """The symbols [start, stop) of chunk ``k``."""
        return chunk_bounds(self.symbols, self.chunk, k)


def chunk_bounds(N: int, Q: int, k: int) -> tuple[int, int]:
    """Symbols [start, stop) of chunk ``k`` of ``N`` symbols in chunks of ``Q`` (0: one stream), spec 7.2."""
    if not Q:
        return 0, N
    return k * Q, min(N, (k + 1) * Q)


@dataclass
class FileHeader:
    """What :func:`read_header` finds: the version, the tensors in table order, the metadata."""

    version: int
    file_size: int
    tensors: list[TensorInfo] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> TensorInfo:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)


@dataclass
class Block:
    """A tensor to write: its table fields and its already built data / dequant block bytes."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    coding: int
    checksum: int
    data: bytes
    dequant: bytes = b""
    side_size: int = 0  # leading bytes of ``data`` covered by the block checksum (rANS: all but the words)
    side_spans: tuple = ()  # coding 2: the (start, stop) ranges of ``data`` the block checksum covers instead


# --------------------------------------------------------------------------------------------------
# Writer


def values_size(V: int, dtype: str, pairs: bool = False, product: bool = False) -> int:
    """Bytes of the vocabulary: V values of the dtype (pairs: two each, unless PRODUCT pairs store the
    entries' values), padded to a multiple of 2 (spec section 7)."""
    n = V * np.dtype(dtype).itemsize * (2 if pairs and not product else 1)
    return n + (n & 1)


def rans_side_size(V: int, L: int, K: int, chunked: bool, dtype: str, pairs: bool = False,
                   product: bool = False) -> int:
    """Bytes of a coding-0 block before its words (spec section 7)."""
    return (RANS_HEADER_SIZE + 4 * L * K + (8 * K if chunked else 0) + values_size(V, dtype, pairs, product)
            + (2 * (V + 1) if V else 0))


def rans_block(dtype: str, L: int, precision: int, states: np.ndarray, values: np.ndarray, cdf: np.ndarray,
               words: np.ndarray, *, pairs: bool = False, product: bool = False, chunk: int = 0, chunk_words=None,
               chunk_checksums=None) -> bytes:
    """The bytes of a coding-0 data block (spec section 7).

    ``states`` holds L states per chunk, chunk after chunk; with ``chunk`` (Q > 0) the per-chunk word
    counts and checksums are written too, and ``words`` is the chunks' streams back to back. With
    ``pairs`` the values are the u16 pair values (section 7.1); with ``product`` too, ``values`` and
    ``cdf`` are the entries' model (section 7.3).
    """
    if product and not pairs:
        raise ValueError("PRODUCT needs PAIRS (spec section 7.3)")
    V = len(values)
    words = [np.ascontiguousarray(w, dtype="<u2") for w in (words if isinstance(words, list) else [words])]
    W = sum(w.size for w in words)
    vdt = np.dtype("<u2") if pairs and not product else np.dtype(dtype).newbyteorder("<")
    vals = np.asarray(values).astype(vdt).tobytes()
    parts = [
        _RANS.pack(V, L, W, precision, (MODE_PAIRS if pairs else 0) | (MODE_PRODUCT if product else 0), 0, chunk),
        np.asarray(states, dtype="<u4").tobytes(),
    ]
    if chunk:
        parts += [np.asarray(chunk_words, dtype="<u4").tobytes(), np.asarray(chunk_checksums, dtype="<u4").tobytes()]
    parts += [
        vals + b"\0" * (values_size(V, dtype, pairs, product) - len(vals)),
        np.asarray(cdf, dtype="<u2").tobytes() if V > 0 else b"",
        *words,  # joined straight from the encoder's buffers
    ]
    return b"".join(parts)


def groups_head_size(G: int, R: int) -> int:
    """Bytes of a coding-2 block's group header and row map of R rows, before its padding (spec 7.4)."""
    return 8 + 12 * G + -(-R * (G - 1).bit_length() // 8)


def groups_checksum(checksums) -> int:
    """The table checksum of a coding-2 tensor: the FxHash26 of its group checksums (spec 7.4)."""
    return fxhash26(np.asarray(checksums, dtype=np.int64))


def row_map_bytes(row_groups: np.ndarray, G: int) -> bytes:
    """The row map of spec section 7.4: each row's group in b bits (b = bit length of G - 1), least
    significant bit first, in ceil(R·b / 8) bytes."""
    b = (G - 1).bit_length()
    bits = (np.asarray(row_groups, dtype=np.int64)[:, None] >> np.arange(b)) & 1
    return np.packbits(bits.reshape(-1).astype(np.uint8), bitorder="little").tobytes()


def groups_block(row_groups: np.ndarray, subs: list[Block]) -> tuple[bytes, int, tuple]:
    """A coding-2 data block (spec section 7.4) from the row map and the groups' coding-0 blocks, in
    group order. Returns (bytes, table checksum, the spans the block checksum covers)."""
    G = len(subs)
    if not 2 <= G <= MAX_GROUPS:
        raise ValueError(f"row groups need 2 to {MAX_GROUPS} groups, got {G}")
    head = (_GROUPS.pack(G, 0) + np.array([len(b.data) for b in subs], dtype="<u8").tobytes()
            + np.array([b.checksum for b in subs], dtype="<u4").tobytes() + row_map_bytes(row_groups, G))
    parts, spans, pos, side_from = [], [], 0, 0
    for b in [None, *subs]:
        data = head if b is None else b.data
        pad = align8(pos) - pos
        parts += [bytes(pad), data]
        pos += pad
        if b is not None:
            spans.append((side_from, pos + b.side_size))  # up to this sub-block's words
            side_from = pos + len(b.data)
        pos += len(data)
    spans.append((side_from, pos))
    return b"".join(parts), groups_checksum([b.checksum for b in subs]), tuple(spans)


def encode_metadata(metadata: dict | None) -> bytes:
    if not metadata:
        return b""
    if not isinstance(metadata, dict):
        raise TypeError("metadata must be a dict")
    try:
        text = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as e:  # NaN / Infinity are not JSON: browsers' JSON.parse rejects them
        raise ValueError(f"metadata must be strict JSON: {e}") from None
    return text.encode("utf-8")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def write_file(blocks: list[Block], metadata: dict | None = None) -> bytes:
    """Lay out header, table, metadata and blocks exactly as spec section 6 places them."""
    names = set()
    entries_fixed = []
    for b in blocks:
        name_bytes = b.name.encode("utf-8")
        if not name_bytes:
            raise ValueError("tensor names must not be empty")
        if len(name_bytes) > 0xFFFF:
            raise ValueError(f"tensor name {b.name[:40]!r}... is longer than 65535 bytes")
        if b.name in names:
            raise ValueError(f"duplicate tensor name {b.name!r}")
        names.add(b.name)
        if len(b.shape) > MAX_NDIM:
            raise ValueError(f"tensor {b.name!r} has {len(b.shape)} dimensions; at most {MAX_NDIM}")
        entries_fixed.append(name_bytes)
    meta = encode_metadata(metadata)
    table_size = sum(ENTRY_FIXED_SIZE + 8 * len(b.shape) + align8(len(nb)) for b, nb in zip(blocks, entries_fixed))
    cursor = align8(HEADER_SIZE + table_size + len(meta))
    placements = []
    end = HEADER_SIZE + table_size + len(meta)
    for b in blocks:
        data_offset = cursor
        cursor = data_offset + len(b.data)
        dq_offset = 0
        if b.dequant:
            dq_offset = align8(cursor)
            cursor = dq_offset + len(b.dequant)
        end = cursor
        placements.append((data_offset, dq_offset))
        cursor = align8(cursor)
    file_size = end
    head_size = HEADER_SIZE + table_size + len(meta)
    out = bytearray(head_size)  # header, table and metadata; the blocks are joined after them
    _HEADER.pack_into(out, 0, MAGIC, VERSION, 0, file_size, len(blocks), table_size, len(meta), 0)
    pos = HEADER_SIZE
    parts = [out]
    cursor = head_size
    for b, nb, (data_offset, dq_offset) in zip(blocks, entries_fixed, placements):
        h = 0
        for start, stop in (b.side_spans or ((0, b.side_size),)):
            h = fxhash26_bytes(memoryview(b.data)[start:stop], h)
        block_checksum = fxhash26_bytes(b.dequant, h)
        _ENTRY.pack_into(out, pos, data_offset, len(b.data), dq_offset, len(b.dequant), b.checksum,
                         DTYPE_CODES[b.dtype], b.coding, len(b.shape), 0, len(nb), 0, block_checksum)
        pos += ENTRY_FIXED_SIZE
        for d in b.shape:
            struct.pack_into("<Q", out, pos, int(d))
            pos += 8
        out[pos:pos + len(nb)] = nb
        pos += align8(len(nb))
        parts += [bytes(data_offset - cursor), b.data]
        cursor = data_offset + len(b.data)
        if b.dequant:
            parts += [bytes(dq_offset - cursor), b.dequant]
            cursor = dq_offset + len(b.dequant)
    out[pos:pos + len(meta)] = meta
    struct.pack_into("<I", out, HEADER_CHECKSUM_AT, fxhash26_bytes(out[:pos + len(meta)]))
    return b"".join(parts)  # the one copy of the blocks into the file


def header_checksum(buf, meta_end: int) -> int:
    """FxHash26 of bytes [0, meta_end) as u8 values, with the header_checksum field read as zeros."""
    return fxhash26_bytes(buf[HEADER_CHECKSUM_AT + 4:meta_end],
                          fxhash26_bytes(b"\0\0\0\0", fxhash26_bytes(buf[:HEADER_CHECKSUM_AT])))


def block_checksum(buf, t: "TensorInfo") -> int:
    """FxHash26 of a tensor's data block without its words, then its dequant block (spec section 11)."""
    if t.coding == "groups":  # every byte but the sub-blocks' words, in file order
        h, pos = 0, t.data_offset
        for s in t.groups:
            h = fxhash26_bytes(buf[pos:s.data_offset + s.data_size - 2 * s.words], h)
            pos = s.data_offset + s.data_size
        h = fxhash26_bytes(buf[pos:t.data_offset + t.data_size], h)
        return fxhash26_bytes(buf[t.dequant_offset:t.dequant_offset + t.dequant_size], h)
    side = t.data_size - 2 * t.words if t.coding == "rans" else 0
    h = fxhash26_bytes(buf[t.data_offset:t.data_offset + side])
    return fxhash26_bytes(buf[t.dequant_offset:t.dequant_offset + t.dequant_size], h)


def verify_block_checksum(buf, t: "TensorInfo") -> None:
    h = block_checksum(buf, t)
    if h != t.block_checksum:
        raise ChecksumMismatch(f"block_checksum: the model and dequant bytes hash to {h}, table says "
                               f"{t.block_checksum}", offset=t.entry_offset + BLOCK_CHECKSUM_AT, tensor=t.name)


# --------------------------------------------------------------------------------------------------
# Reader


def _u(buf: memoryview, fmt: str, offset: int):
    return struct.unpack_from(fmt, buf, offset)[0]


def read_header(data, *, max_entries: int = DEFAULT_MAX_ENTRIES, verify: bool = True) -> FileHeader:
    """Parse and validate the header, table, metadata and block placement (spec section 13, rules 1-8).

    Reads nothing but fixed-size fields and the rANS block headers; allocates nothing whose size
    comes from the file beyond the table and metadata (both bounded by the file length).
    """
    buf = memoryview(data).cast("B") if not isinstance(data, memoryview) else data.cast("B")
    size = len(buf)
    if size < 8 or bytes(buf[:8]) != MAGIC:
        if size < 8 and bytes(buf[:size]) == MAGIC[:size]:
            raise Truncated(f"file is {size} bytes, shorter than the 8-byte magic", offset=size)
        raise BadMagic(f"expected magic {MAGIC.hex(' ')}, found {bytes(buf[:8]).hex(' ')}", offset=0)
    if size < HEADER_SIZE:
        raise Truncated(f"file is {size} bytes, shorter than the {HEADER_SIZE}-byte header", offset=size)
    magic, version, flags, file_size, count, table_size, meta_size, stored_header_checksum = _HEADER.unpack_from(buf, 0)
    if version != VERSION:
        raise UnsupportedVersion(f"format version {version}; this decoder reads version {VERSION}", offset=8)
    if flags != 0:
        raise ReservedNonZero(f"header flags are {flags:#x}, expected 0", offset=12)
    if stored_header_checksum >> 26:
        raise BadTable(f"header_checksum {stored_header_checksum:#x} has bits above 26 set", offset=36)
    if file_size > size:
        raise Truncated(f"header says file_size {file_size}, but only {size} bytes are present", offset=16)
    if file_size < size:
        raise SizeMismatch(f"header says file_size {file_size}, but the file has {size} bytes "
                           f"({size - file_size} trailing bytes)", offset=16)
    if table_size % 8 != 0:
        raise BadTable(f"table_size {table_size} is not a multiple of 8", offset=28)
    meta_start = HEADER_SIZE + table_size
    if meta_start + meta_size > size:
        raise Truncated(f"table ({table_size} bytes) and metadata ({meta_size} bytes) end at "
                        f"{meta_start + meta_size}, past the end of the {size}-byte file", offset=28)
    if count * ENTRY_FIXED_SIZE > table_size:
        raise BadTable(f"{count} tensors need at least {count * ENTRY_FIXED_SIZE} table bytes, "
                       f"table_size is {table_size}", offset=24)

    tensors: list[TensorInfo] = []
    names: set[str] = set()
    pos = HEADER_SIZE
    for index in range(count):
        if pos + ENTRY_FIXED_SIZE > meta_start:
            raise BadTable(f"entry {index} starts at {pos} and overruns the table, which ends at {meta_start}",
                           offset=pos)
        (d_off, d_size, q_off, q_size, checksum, dtype_code, coding, ndim, res1, name_len, res2,
         entry_block_checksum) = _ENTRY.unpack_from(buf, pos)
        entry_at = pos
        for value, rel in ((res1, 39), (res2, 42)):
            if value != 0:
                raise ReservedNonZero(f"entry {index}: reserved field at entry offset {rel} is {value}",
                                      offset=pos + rel)
        if dtype_code not in CODE_DTYPES:
            raise BadTable(f"entry {index}: unknown dtype code {dtype_code}", offset=pos + 36)
        if coding not in CODING_NAMES:
            raise BadTable(f"entry {index}: unknown coding {coding}", offset=pos + 37)
        if coding in (CODING_RANS, CODING_GROUPS) and dtype_code not in RANS_DTYPES:
            raise BadTable(f"entry {index}: dtype {CODE_DTYPES[dtype_code]} cannot be rANS-coded", offset=pos + 37)
        if ndim > MAX_NDIM:
            raise BadTable(f"entry {index}: ndim {ndim} exceeds {MAX_NDIM}", offset=pos + 38)
        if name_len == 0:
            raise BadTable(f"entry {index}: empty name", offset=pos + 40)
        if checksum >> 26:
            raise BadTable(f"entry {index}: checksum {checksum:#x} has bits above 26 set", offset=pos + 32)
        if entry_block_checksum >> 26:
            raise BadTable(f"entry {index}: block_checksum {entry_block_checksum:#x} has bits above 26 set",
                           offset=pos + BLOCK_CHECKSUM_AT)
        entry_len = ENTRY_FIXED_SIZE + 8 * ndim + align8(name_len)
        if pos + entry_len > meta_start:
            raise BadTable(f"entry {index} ({entry_len} bytes at {pos}) overruns the table, which ends at "
                           f"{meta_start}", offset=pos)
        pos += ENTRY_FIXED_SIZE
        shape = struct.unpack_from(f"<{ndim}Q", buf, pos)
        pos += 8 * ndim
        try:
            name = bytes(buf[pos:pos + name_len]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadTable(f"entry {index}: name is not valid UTF-8 ({e.reason})", offset=pos + e.start) from None
        if any(buf[pos + name_len:pos + align8(name_len)]):
            raise ReservedNonZero(f"entry {index}: name padding is not zero", offset=pos + name_len, tensor=name)
        pos += align8(name_len)
        if name in names:
            raise BadTable(f"duplicate tensor name {name!r}", offset=pos - align8(name_len), tensor=name)
        names.add(name)
        n = 1
        for k, d in enumerate(shape):
            if d > MAX_SAFE_ENTRIES:
                raise LimitExceeded(f"dimension {k} is {d}, at least 2^53", offset=entry_at + 48 + 8 * k, tensor=name)
            n *= d
        if n > MAX_SAFE_ENTRIES:
            raise LimitExceeded(f"shape {shape} has {n} entries, at least 2^53", offset=entry_at + 48, tensor=name)
        if n > max_entries:
            raise LimitExceeded(f"shape {shape} has {n} entries, above the limit max_entries={max_entries}",
                                offset=entry_at + 48, tensor=name)
        if coding == CODING_GROUPS and (ndim == 0 or n == 0 or shape[0] < 2):
            raise BadTable(f"entry {index}: coding 2 (row groups) needs at least 2 rows and n > 0, shape is "
                           f"{tuple(shape)}", offset=entry_at + 37, tensor=name)
        tensors.append(TensorInfo(name=name, shape=tuple(int(d) for d in shape),
                                  dtype=CODE_DTYPES[dtype_code].name, coding=CODING_NAMES[coding],
                                  checksum=checksum, data_offset=d_off, data_size=d_size,
                                  dequant_offset=q_off, dequant_size=q_size, entry_offset=entry_at,
                                  block_checksum=entry_block_checksum))
    if pos != meta_start:
        raise BadTable(f"the {count} entries end at {pos}, but the table ends at {meta_start}", offset=pos)

    metadata = {}
    if meta_size:
        raw = bytes(buf[meta_start:meta_start + meta_size])
        try:
            metadata = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise BadMetadata(f"metadata is not UTF-8 JSON: {e}", offset=meta_start) from None
        if not isinstance(metadata, dict):
            raise BadMetadata(f"metadata is a JSON {type(metadata).__name__}, expected an object", offset=meta_start)

    _check_layout(buf, tensors, meta_start + meta_size, file_size)
    for t in tensors:
        if t.coding == "rans":
            _read_rans_header(buf, t)
            t.arrays = rans_arrays(buf, t)  # rule 7 in full (CDF, states, chunk tables) before any checksum (rule 9)
        elif t.coding == "groups":
            _read_groups(buf, t)
        elif t.data_size != t.size * np.dtype(t.dtype).itemsize:
            raise BadLayout(f"raw block is {t.data_size} bytes, expected {t.size} entries x "
                            f"{np.dtype(t.dtype).itemsize} = {t.size * np.dtype(t.dtype).itemsize}",
                            offset=t.entry_offset + 8, tensor=t.name)
    if verify:
        h = header_checksum(buf, meta_start + meta_size)
        if h != stored_header_checksum:
            raise ChecksumMismatch(f"header_checksum: header, table and metadata hash to {h}, header says "
                                   f"{stored_header_checksum}", offset=HEADER_CHECKSUM_AT)
    return FileHeader(version=version, file_size=file_size, tensors=tensors, metadata=metadata)


def _check_padding(buf: memoryview, start: int, end: int, tensor: str | None) -> None:
    if end > start and any(buf[start:end]):
        bad = start + next(i for i, b in enumerate(buf[start:end]) if b)
        raise ReservedNonZero(f"padding byte is not zero", offset=bad, tensor=tensor)


def _check_layout(buf: memoryview, tensors: list[TensorInfo], meta_end: int, file_size: int) -> None:
    """Spec section 6: every block exactly where the placement rule puts it."""
    prev_end = meta_end
    cursor = align8(meta_end)
    end = meta_end
    for t in tensors:
        if t.data_offset != cursor:
            raise BadLayout(f"data_offset is {t.data_offset}, expected {cursor}", offset=t.entry_offset,
                            tensor=t.name)
        if t.data_size > file_size - cursor:
            raise BadLayout(f"data block of {t.data_size} bytes at {cursor} runs past the end of the "
                            f"{file_size}-byte file", offset=t.entry_offset + 8, tensor=t.name)
        _check_padding(buf, prev_end, cursor, t.name)
        cursor += t.data_size
        if t.dequant_size:
            q = align8(cursor)
            if t.dequant_offset != q:
                raise BadLayout(f"dequant_offset is {t.dequant_offset}, expected {q}", offset=t.entry_offset + 16,
                                tensor=t.name)
            if t.dequant_size > file_size - q:
                raise BadLayout(f"dequant block of {t.dequant_size} bytes at {q} runs past the end of the "
                                f"{file_size}-byte file", offset=t.entry_offset + 24, tensor=t.name)
            _check_padding(buf, cursor, q, t.name)
            _check_dequant_envelope(buf, t, q)
            cursor = q + t.dequant_size
        elif t.dequant_offset != 0:
            raise BadLayout(f"dequant_offset is {t.dequant_offset} but dequant_size is 0",
                            offset=t.entry_offset + 16, tensor=t.name)
        end = prev_end = cursor
        cursor = align8(cursor)
    if end != file_size:
        raise BadLayout(f"the last block ends at {end}, but the file is {file_size} bytes", offset=end)


def _check_dequant_envelope(buf: memoryview, t: TensorInfo, q: int) -> None:
    """Spec section 12: the 16-byte dequant header and its body size (the kind is checked on use)."""
    if t.dequant_size < DEQUANT_HEADER_SIZE:
        raise BadDequant(f"dequant block is {t.dequant_size} bytes, shorter than its {DEQUANT_HEADER_SIZE}-byte "
                         f"header", offset=q, tensor=t.name)
    kind, reserved, body_size = struct.unpack_from("<IIQ", buf, q)
    if reserved:
        raise ReservedNonZero(f"dequant header reserved field is {reserved}", offset=q + 4, tensor=t.name)
    if body_size != t.dequant_size - DEQUANT_HEADER_SIZE:
        raise BadDequant(f"dequant body_size is {body_size}, but the block leaves "
                         f"{t.dequant_size - DEQUANT_HEADER_SIZE} bytes after its header", offset=q + 8,
                         tensor=t.name)


def _read_rans_header(buf: memoryview, t: TensorInfo) -> None:
    o = t.data_offset
    if t.data_size < RANS_HEADER_SIZE:
        raise BadModel(f"rANS block is {t.data_size} bytes, shorter than its {RANS_HEADER_SIZE}-byte header",
                        offset=o, tensor=t.name)
    V, L, W, P, mode, r2, Q = _RANS.unpack_from(buf, o)
    if mode & ~(MODE_PAIRS | MODE_PRODUCT):
        raise ReservedNonZero(f"rANS mode {mode:#04x} has reserved bits 2-7 set", offset=o + 17, tensor=t.name)
    if r2:
        raise ReservedNonZero(f"rANS header reserved field is {r2}", offset=o + 18, tensor=t.name)
    if not 1 <= P <= MAX_PRECISION:
        raise BadModel(f"precision P={P} is outside [1, {MAX_PRECISION}]", offset=o + 16, tensor=t.name)
    n = t.size
    pairs = bool(mode & MODE_PAIRS)
    product = bool(mode & MODE_PRODUCT)
    if n == 0:
        if V or L or W or mode or Q:
            raise BadModel(f"empty tensor must have V = L = W = 0, mode 0 and chunk 0, found V={V}, L={L}, "
                           f"W={W}, mode={mode}, chunk={Q}", offset=o, tensor=t.name)
    if pairs and (np.dtype(t.dtype).itemsize != 1 or n % 2):
        why = f"dtype {t.dtype}" if np.dtype(t.dtype).itemsize != 1 else f"an odd entry count n={n}"
        raise BadModel(f"PAIRS needs a 1-byte dtype and an even entry count, the tensor has {why}",
                       offset=o + 17, tensor=t.name)
    if product and not pairs:
        raise BadModel(f"PRODUCT (mode bit 1) needs PAIRS (mode bit 0), mode is {mode:#04x}", offset=o + 17,
                       tensor=t.name)
    N = n // 2 if pairs else n
    if n:
        if not 1 <= V <= (1 << P):
            raise BadModel(f"vocabulary size V={V} is outside [1, 2^P={1 << P}]", offset=o, tensor=t.name)
        if product and V * V > 1 << P:
            raise BadModel(f"PRODUCT pairs of V={V} entry values need V^2 = {V * V} <= 2^P = {1 << P}",
                           offset=o, tensor=t.name)
        if not 1 <= L <= N:
            raise BadModel(f"lane count L={L} is outside [1, N={N}] (N: symbols)", offset=o + 4, tensor=t.name)
        if W > N:
            raise BadModel(f"word count W={W} exceeds the symbol count N={N}", offset=o + 8, tensor=t.name)
        if Q and not L <= Q < N:
            raise BadModel(f"chunk size Q={Q} must be 0 or in [L={L}, N={N})", offset=o + 20, tensor=t.name)
    K = (-(-N // Q) if Q else 1) if n else 0
    # Bound K by the block size before using it in arithmetic that sizes anything.
    if K > t.data_size:
        raise BadModel(f"chunk size Q={Q} gives {K} chunks, more than the block's {t.data_size} bytes could hold",
                       offset=o + 20, tensor=t.name)
    expected = rans_side_size(V, L, K, Q > 0, t.dtype, pairs, product) + 2 * W
    if t.data_size != expected:
        raise BadModel(f"rANS block{_group_of(t)} is {t.data_size} bytes, but V={V}, L={L}, K={K}, W={W} need "
                       f"{expected}", offset=t.size_field, tensor=t.name)
    t.vocab_size, t.lanes, t.words, t.precision, t.pairs, t.chunk, t.product = V, L, W, P, pairs, Q, product


def _group_of(t: TensorInfo) -> str:
    return "" if t.size_at is None else f" of group {t.group}"


def _read_groups(buf: memoryview, t: TensorInfo) -> None:
    """Spec section 7.4 and rule 7: the group header, row map, sub-block placement, and each sub-block
    as a coding-0 block of its group's rows. Sizes are checked against the block before anything is
    read or allocated from them."""
    o, size, R = t.data_offset, t.data_size, t.shape[0]
    if size < _GROUPS.size:
        raise BadModel(f"row-group block is {size} bytes, shorter than its {_GROUPS.size}-byte header", offset=o,
                       tensor=t.name)
    G, reserved = _GROUPS.unpack_from(buf, o)
    if not 2 <= G <= min(R, MAX_GROUPS):
        raise BadModel(f"group count G={G} is outside [2, min(R={R}, {MAX_GROUPS})]", offset=o, tensor=t.name)
    if reserved:
        raise ReservedNonZero(f"row-group header reserved field is {reserved}", offset=o + 4, tensor=t.name)
    b = (G - 1).bit_length()
    map_at = o + 8 + 12 * G
    head = groups_head_size(G, R)
    M = head - (8 + 12 * G)
    if head > size:
        raise BadModel(f"the group header and the row map of {R} rows x {b} bits need {head} bytes, the "
                       f"block has {size}", offset=o, tensor=t.name)
    sizes = np.frombuffer(buf, dtype="<u8", count=G, offset=o + 8)
    checks = np.frombuffer(buf, dtype="<u4", count=G, offset=o + 8 + 8 * G)
    end, cursor, offsets = o + head, o + align8(head), []
    for g in range(G):
        S = int(sizes[g])
        if cursor > o + size or S > o + size - cursor:
            raise BadModel(f"group {g}'s sub-block of {S} bytes at block offset {cursor - o} runs past the "
                           f"{size}-byte block", offset=o + 8 + 8 * g, tensor=t.name)
        _check_padding(buf, end, cursor, t.name)
        offsets.append(cursor)
        end = cursor + S
        cursor = align8(end)
    if end != o + size:
        raise BadModel(f"the last sub-block ends at block offset {end - o}, but the block is {size} bytes",
                       offset=t.entry_offset + 8, tensor=t.name)
    wide = np.flatnonzero(checks >> 26)
    if wide.size:
        g = int(wide[0])
        raise BadModel(f"group {g}'s checksum {checks[g]:#x} has bits above 26 set", offset=o + 8 + 8 * G + 4 * g,
                       tensor=t.name)
    bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8, count=M, offset=map_at), bitorder="little")
    if bits[R * b:].any():
        at = R * b + int(np.argmax(bits[R * b:]))
        raise ReservedNonZero(f"row map bit {at} (above the {R} x {b} bits of the map) is set",
                              offset=map_at + at // 8, tensor=t.name)
    rows = (bits[:R * b].reshape(R, b).astype(np.int64) << np.arange(b)).sum(axis=1)
    bad = np.flatnonzero(rows >= G)
    if bad.size:
        r = int(bad[0])
        raise BadModel(f"row {r} is in group {rows[r]}, but G={G}", offset=map_at + r * b // 8, tensor=t.name)
    counts = np.bincount(rows, minlength=G)
    if not counts.all():
        g = int(np.argmin(counts))
        raise BadModel(f"group {g} has no rows", offset=map_at, tensor=t.name)
    subs = []
    for g in range(G):
        sub = TensorInfo(name=t.name, shape=(int(counts[g]),) + t.shape[1:], dtype=t.dtype, coding="rans",
                         checksum=int(checks[g]), data_offset=offsets[g], data_size=int(sizes[g]),
                         entry_offset=t.entry_offset, size_at=o + 8 + 8 * g, checksum_at=o + 8 + 8 * G + 4 * g,
                         group=g)
        _read_rans_header(buf, sub)
        sub.arrays = rans_arrays(buf, sub)
        subs.append(sub)
    t.groups, t.row_groups = subs, rows.astype(np.uint8)


@dataclass
class RansArrays:
    """Validated zero-copy views of a coding-0 block."""

    states: np.ndarray  # uint32[K, L]
    values: np.ndarray  # what each symbol id decodes to (PRODUCT pairs: the derived u16 pair values)
    cdf: np.ndarray  # the coder's CDF (PRODUCT pairs: derived from the stored one, spec section 7.3)
    words: np.ndarray
    word_starts: np.ndarray  # int64[K + 1]: chunk k's words are words[word_starts[k]:word_starts[k + 1]]
    chunk_checksums: np.ndarray | None  # uint32[K] for a chunked tensor, else None
    words_at: int  # file offset of the words


# Rule 7 violations found by _rule7, in the order rans_arrays reports them.
_OK, _CHUNK_WORDS, _CHUNK_WIDE, _WORD_SUM, _PADDING, _CDF_FIRST, _CDF_LAST, _CDF_STEP, _STATE_LOW = range(9)


@njit(cache=True, nogil=True)
def _rule7(chunk_words, chunk_checksums, Q, N, W, word_starts, pad, cdf, M, states):
    """The first rule-7 violation of a coding-0 block's arrays, in rans_arrays' order: (code, index).
    Fills word_starts (K + 1) from the chunk word counts on the way (Q > 0)."""
    K = chunk_words.size
    for k in range(K):  # the first chunk breaking either rule, its word count first
        size = min(N, (k + 1) * Q) - k * Q
        if chunk_words[k] > size:
            return _CHUNK_WORDS, k
        if chunk_checksums[k] >> 26:
            return _CHUNK_WIDE, k
    if Q:
        acc = 0
        for k in range(K):
            acc += np.int64(chunk_words[k])
            word_starts[k + 1] = acc
        if acc != W:
            return _WORD_SUM, 0
    if pad:
        return _PADDING, 0
    V = cdf.size - 1
    if V > 0:
        if cdf[0] != 0:
            return _CDF_FIRST, 0
        if np.int64(cdf[V]) != M:
            return _CDF_LAST, V
        for s in range(V):
            if cdf[s + 1] <= cdf[s]:
                return _CDF_STEP, s
    for j in range(states.size):
        if states[j] < 65536:
            return _STATE_LOW, j
    return _OK, 0


_NO_CHUNKS = np.zeros(0, dtype="<u4")


def rans_arrays(buf, t: TensorInfo) -> RansArrays:
    """Views of the states, chunk tables, values, CDF and words of a coding-0 block, with rule 7 checked
    (in one compiled pass, _rule7: MiniLM int4's 133 blocks in ~1 ms instead of ~6 ms of numpy calls)."""
    o = t.data_offset + RANS_HEADER_SIZE
    V, L, W, P, K = t.vocab_size, t.lanes, t.words, t.precision, t.chunks
    states = np.frombuffer(buf, dtype="<u4", count=L * K, offset=o).reshape(K, L)
    at = ct = o + 4 * L * K  # ct: the chunk table (Q > 0)
    chunk_checksums = None
    chunk_words = _NO_CHUNKS
    word_starts = np.array([0, W], dtype=np.int64)[:K + 1]
    if t.chunk:
        chunk_words = np.frombuffer(buf, dtype="<u4", count=K, offset=at)
        chunk_checksums = np.frombuffer(buf, dtype="<u4", count=K, offset=at + 4 * K)
        word_starts = np.zeros(K + 1, dtype=np.int64)
        at += 8 * K
    dt = np.dtype("<u2") if t.pairs and not t.product else np.dtype(t.dtype).newbyteorder("<")
    values = np.frombuffer(buf, dtype=dt, count=V, offset=at)
    cdf_at = at + values_size(V, t.dtype, t.pairs, t.product)
    pad = bool(V * dt.itemsize & 1 and buf[cdf_at - 1])
    cdf = np.frombuffer(buf, dtype="<u2", count=V + 1 if V else 0, offset=cdf_at)
    words_at = cdf_at + (2 * (V + 1) if V else 0)
    words = np.frombuffer(buf, dtype="<u2", count=W, offset=words_at)
    flat = states.reshape(-1)
    code, i = _rule7(chunk_words, _NO_CHUNKS if chunk_checksums is None else chunk_checksums, t.chunk, t.symbols, W,
                     word_starts, pad, cdf, 1 << P, flat)
    if code != _OK:
        _raise_rule7(t, code, i, o, ct, K, L, W, P, chunk_words, chunk_checksums, word_starts, cdf, cdf_at, flat)
    if t.product and V:  # the coder's model: pair ids a*V + b, frequencies derived from the entries'
        values, cdf = derive_product(values, cdf, P)
    return RansArrays(states, values, cdf, words, word_starts, chunk_checksums, words_at)


def _raise_rule7(t, code, i, o, ct, K, L, W, P, chunk_words, chunk_checksums, word_starts, cdf, cdf_at, states):
    """The error of _rule7's finding (ct: the chunk table's file offset)."""
    if code == _CHUNK_WORDS:
        a, b = t.chunk_bounds(i)
        raise BadModel(f"chunk {i} has {chunk_words[i]} words, more than its {b - a} symbols",
                       offset=ct + 4 * i, tensor=t.name)
    if code == _CHUNK_WIDE:
        raise BadModel(f"chunk {i}'s checksum {chunk_checksums[i]:#x} has bits above 26 set",
                       offset=ct + 4 * K + 4 * i, tensor=t.name)
    if code == _WORD_SUM:
        raise BadModel(f"the chunks' word counts sum to {word_starts[-1]}, but W={W}", offset=ct, tensor=t.name)
    if code == _PADDING:
        raise ReservedNonZero("vocabulary padding byte is not zero", offset=cdf_at - 1, tensor=t.name)
    V = cdf.size - 1
    if code == _CDF_FIRST:
        raise BadModel(f"cdf[0] is {cdf[0]}, expected 0", offset=cdf_at, tensor=t.name)
    if code == _CDF_LAST:
        raise BadModel(f"cdf[V] is {cdf[-1]}, expected 2^P = {1 << P}", offset=cdf_at + 2 * V, tensor=t.name)
    if code == _CDF_STEP:
        raise BadModel(f"cdf is not strictly increasing at symbol {i} ({cdf[i]} -> {cdf[i + 1]}); "
                       f"every frequency must be at least 1", offset=cdf_at + 2 * (i + 1), tensor=t.name)
    where = f"lane {i}" if K == 1 else f"chunk {i // L}, lane {i % L}"
    raise BadModel(f"initial state of {where} is {states[i]}, below 2^16", offset=o + 4 * i, tensor=t.name)
