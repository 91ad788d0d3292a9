"""Dequantization descriptors (spec/FORMAT.md section 12.1): decoded values -> float32.

Three kinds, each computed with single float32 operations in a fixed order, so that numpy here and
``Math.fround`` in the JS decoder give the same bits:

* ``AFFINE`` (1): ``v = f32(f32(f32(q) - zero[c]) * scale[c])``, with one (scale, zero) pair for the
  whole tensor or one per slice along an axis (``c`` is the entry's index along that axis).
* ``LUT`` (2): ``v = table[q - base]`` (codebooks, reconstruction points).
* ``SCALED_LUT`` (3): ``v = f32(table[q - base] * scale[c])``.
* ``TRELLIS`` (4): dependent (trellis-coded) quantization: ``v = f32(f32(r) * step)`` where ``r`` is
  ``2q`` or ``2q - sign(q)`` depending on a 4-state machine driven by the parities of earlier entries.

Builders return the complete block bytes (16-byte header + body) for :func:`anspack.encode`::

    >>> import numpy as np
    >>> q = np.array([[-2, 0, 1], [3, 1, -1]], dtype=np.int8)
    >>> blk = affine_block(scale=np.array([0.5, 0.25], np.float32), zero=np.zeros(2, np.float32), axis=0)
    >>> dequantize_block(memoryview(blk), q, tensor="w", offset=0).tolist()
    [[-1.0, 0.0, 0.5], [0.75, 0.25, -0.25]]
    >>> dequantize_block(memoryview(lut_block([-0.5, 0.0, 2.0], base=-1)), q[:, 1:], tensor="w", offset=0).tolist()
    [[0.0, 2.0], [2.0, -0.5]]
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from numba import njit

from .errors import BadDequant, ReservedNonZero, UnsupportedDequant

KIND_AFFINE = 1
KIND_LUT = 2
KIND_SCALED_LUT = 3
KIND_TRELLIS = 4
KIND_NAMES = {KIND_AFFINE: "affine", KIND_LUT: "lut", KIND_SCALED_LUT: "scaled_lut", KIND_TRELLIS: "trellis"}
TRELLIS_NEXT = np.array([[0, 2], [2, 0], [1, 3], [3, 1]], dtype=np.int64)
PER_TENSOR = 0xFFFFFFFF
HEADER_SIZE = 16
INT_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32")
VALUE_DTYPES = INT_DTYPES + ("float16", "float32")


# ----------------------------------------------------------------------------------------------
# builders


def _header(kind: int, body: bytes) -> bytes:
    return struct.pack("<IIQ", kind, 0, len(body)) + body


def _f32(a, what: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(a, dtype=np.float32).reshape(-1))
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite")
    return arr


def _axis_field(axis: int | None) -> int:
    if axis is None:
        return PER_TENSOR
    if not 0 <= int(axis) < 8:
        raise ValueError(f"axis must be None or 0..7, got {axis}")
    return int(axis)


def affine_block(scale, zero=None, *, axis: int | None = None) -> bytes:
    """A kind-1 block: ``v = f32(f32(f32(q) - zero[c]) * scale[c])``.

    ``axis=None``: one scale and zero for the tensor; else one pair per index along ``axis``.
    ``zero`` defaults to 0 (symmetric quantization).
    """
    s = _f32(scale, "scale")
    z = np.zeros_like(s) if zero is None else _f32(zero, "zero")
    if s.size != z.size:
        raise ValueError(f"{s.size} scales but {z.size} zero points")
    if axis is None and s.size != 1:
        raise ValueError("a per-tensor affine block has exactly one scale")
    body = struct.pack("<II", _axis_field(axis), s.size) + s.astype("<f4").tobytes() + z.astype("<f4").tobytes()
    return _header(KIND_AFFINE, body)


def lut_block(table, *, base: int = 0) -> bytes:
    """A kind-2 block: ``v = table[q - base]``."""
    t = _f32(table, "table")
    if t.size < 1:
        raise ValueError("a lookup table needs at least one entry")
    if not -(2**31) <= int(base) < 2**31:
        raise ValueError("base must fit in i32")
    return _header(KIND_LUT, struct.pack("<iI", int(base), t.size) + t.astype("<f4").tobytes())


def scaled_lut_block(table, scale, *, base: int = 0, axis: int | None = None) -> bytes:
    """A kind-3 block: ``v = f32(table[q - base] * scale[c])``."""
    t = _f32(table, "table")
    s = _f32(scale, "scale")
    if t.size < 1:
        raise ValueError("a lookup table needs at least one entry")
    if axis is None and s.size != 1:
        raise ValueError("a per-tensor scaled lookup table has exactly one scale")
    if not -(2**31) <= int(base) < 2**31:
        raise ValueError("base must fit in i32")
    body = (struct.pack("<IIiI", _axis_field(axis), s.size, int(base), t.size) + s.astype("<f4").tobytes()
            + t.astype("<f4").tobytes())
    return _header(KIND_SCALED_LUT, body)


def trellis_block(step) -> bytes:
    """A kind-4 block: dependent (trellis-coded) quantization with step ``step``."""
    st = _f32([step], "step")
    if not st[0] > 0:
        raise ValueError("step must be positive")
    return _header(KIND_TRELLIS, st.astype("<f4").tobytes() + struct.pack("<I", 0))


@njit(cache=True)
def trellis_levels(q, next_state):
    """The integers r (2k or 2k - sign(k)) of a trellis-coded sequence, state from 0 (spec 12.1 kind 4)."""
    r = np.empty(q.size, dtype=np.int64)
    s = 0
    for i in range(q.size):
        k = np.int64(q[i])
        if s < 2:
            r[i] = 2 * k
        elif k > 0:
            r[i] = 2 * k - 1
        elif k < 0:
            r[i] = 2 * k + 1
        else:
            r[i] = 0
        s = next_state[s, k & 1]
    return r


# ----------------------------------------------------------------------------------------------
# parsing and validation


@dataclass(frozen=True)
class Descriptor:
    """A parsed dequant block. ``axis`` is None for per-tensor; arrays are float32 copies."""

    kind: int
    axis: int | None = None
    scale: np.ndarray | None = None
    zero: np.ndarray | None = None
    base: int = 0
    table: np.ndarray | None = None

    @property
    def name(self) -> str:
        return KIND_NAMES[self.kind]


def _finite(arr: np.ndarray, what: str, at: int, tensor: str) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise BadDequant(f"{what}[{i}] is {arr[i]!r}, not a finite float32", offset=at + 4 * i, tensor=tensor)
    return arr


def _check_axis(axis_field: int, count: int, shape: tuple[int, ...], at: int, tensor: str) -> int | None:
    if axis_field == PER_TENSOR:
        if count != 1:
            raise BadDequant(f"per-tensor descriptor has count {count}, expected 1", offset=at + 4, tensor=tensor)
        return None
    if axis_field >= len(shape):
        raise BadDequant(f"axis is {axis_field}, but the tensor has {len(shape)} dimensions", offset=at,
                         tensor=tensor)
    if count != shape[axis_field]:
        raise BadDequant(f"count is {count}, expected shape[{axis_field}] = {shape[axis_field]}",
                         offset=at + 4, tensor=tensor)
    return axis_field


def parse_block(block, *, shape: tuple[int, ...], tensor: str, offset: int) -> Descriptor:
    """Parse and validate a dequant block (header + body) at file offset ``offset``."""
    b = memoryview(block).cast("B")
    if len(b) < HEADER_SIZE:
        raise BadDequant(f"dequant block is {len(b)} bytes, shorter than its 16-byte header", offset=offset,
                         tensor=tensor)
    kind, reserved, body_size = struct.unpack_from("<IIQ", b, 0)
    if body_size != len(b) - HEADER_SIZE:
        raise BadDequant(f"body_size is {body_size}, the block holds {len(b) - HEADER_SIZE}", offset=offset + 8,
                         tensor=tensor)
    if reserved != 0:
        raise ReservedNonZero(f"dequant header reserved field is {reserved}", offset=offset + 4, tensor=tensor)
    shape = tuple(int(d) for d in shape)
    body = offset + HEADER_SIZE

    def need(size: int) -> None:
        if body_size != size:
            raise BadDequant(f"{KIND_NAMES[kind]} body is {body_size} bytes, expected {size}", offset=offset + 8,
                             tensor=tensor)

    def floats(at: int, count: int, what: str) -> np.ndarray:
        a = np.frombuffer(b, dtype="<f4", count=count, offset=at - offset).astype(np.float32)
        return _finite(a, what, at, tensor)

    if kind == KIND_AFFINE:
        if body_size < 8:
            raise BadDequant(f"affine body is {body_size} bytes, shorter than 8", offset=offset + 8, tensor=tensor)
        axis_field, count = struct.unpack_from("<II", b, HEADER_SIZE)
        need(8 + 8 * count)
        axis = _check_axis(axis_field, count, shape, body, tensor)
        scale = floats(body + 8, count, "scale")
        zero = floats(body + 8 + 4 * count, count, "zero")
        return Descriptor(kind, axis=axis, scale=scale, zero=zero)
    if kind == KIND_LUT:
        if body_size < 8:
            raise BadDequant(f"lut body is {body_size} bytes, shorter than 8", offset=offset + 8, tensor=tensor)
        base, count = struct.unpack_from("<iI", b, HEADER_SIZE)
        if count < 1:
            raise BadDequant("lut table has no entries", offset=body + 4, tensor=tensor)
        need(8 + 4 * count)
        return Descriptor(kind, base=base, table=floats(body + 8, count, "table"))
    if kind == KIND_SCALED_LUT:
        if body_size < 16:
            raise BadDequant(f"scaled_lut body is {body_size} bytes, shorter than 16", offset=offset + 8,
                             tensor=tensor)
        axis_field, count, base, tcount = struct.unpack_from("<IIiI", b, HEADER_SIZE)
        if tcount < 1:
            raise BadDequant("scaled_lut table has no entries", offset=body + 12, tensor=tensor)
        need(16 + 4 * count + 4 * tcount)
        axis = _check_axis(axis_field, count, shape, body, tensor)
        scale = floats(body + 16, count, "scale")
        table = floats(body + 16 + 4 * count, tcount, "table")
        return Descriptor(kind, axis=axis, scale=scale, base=base, table=table)
    if kind == KIND_TRELLIS:
        need(8)
        step = floats(body, 1, "step")
        reserved2 = struct.unpack_from("<I", b, HEADER_SIZE + 4)[0]
        if reserved2 != 0:
            raise BadDequant(f"trellis reserved field is {reserved2}, expected 0", offset=body + 4, tensor=tensor)
        return Descriptor(kind, scale=step)
    raise UnsupportedDequant(f"dequant kind {kind} is not defined (known: 1 affine, 2 lut, 3 scaled_lut, 4 trellis)",
                             offset=offset, tensor=tensor)


def validate_block(block, *, shape: tuple[int, ...], tensor: str, offset: int) -> None:
    """Check a dequant block against spec section 12.1 without dequantizing (values are checked on use)."""
    parse_block(block, shape=shape, tensor=tensor, offset=offset)


# ----------------------------------------------------------------------------------------------
# dequantization


def _broadcast(vec: np.ndarray, shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    if axis is None:
        return vec.reshape(())
    s = [1] * len(shape)
    s[axis] = vec.size
    return vec.reshape(s)


def _lut_index(values: np.ndarray, d: Descriptor, tensor: str, offset: int) -> np.ndarray:
    if values.dtype.name not in INT_DTYPES:
        raise BadDequant(f"{d.name} needs an integer tensor, this one is {values.dtype.name}", offset=offset,
                         tensor=tensor)
    idx = values.astype(np.int64) - d.base
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= d.table.size:
            bad = lo if lo < 0 else hi
            raise BadDequant(f"value {bad + d.base} is outside the table [{d.base}, {d.base + d.table.size})",
                             offset=offset, tensor=tensor)
    return idx


def apply(d: Descriptor, values: np.ndarray, *, tensor: str = "", offset: int = 0) -> np.ndarray:
    """Dequantize ``values`` with a parsed descriptor (float32 result, same shape)."""
    values = np.asarray(values)
    if values.dtype.name not in VALUE_DTYPES:
        raise BadDequant(f"cannot dequantize a {values.dtype.name} tensor", offset=offset, tensor=tensor)
    if d.kind == KIND_AFFINE:
        q = values.astype(np.float32)
        t = q - _broadcast(d.zero, values.shape, d.axis)          # float32 - float32
        return (t * _broadcast(d.scale, values.shape, d.axis)).astype(np.float32, copy=False)
    if d.kind == KIND_TRELLIS:
        if values.dtype.name not in INT_DTYPES:
            raise BadDequant(f"trellis needs an integer tensor, this one is {values.dtype.name}", offset=offset,
                             tensor=tensor)
        r = trellis_levels(np.ascontiguousarray(values).reshape(-1).astype(np.int64), TRELLIS_NEXT)
        return (r.astype(np.float32) * d.scale[0]).reshape(values.shape)
    idx = _lut_index(values, d, tensor, offset)
    v = d.table[idx]
    if d.kind == KIND_SCALED_LUT:
        v = v * _broadcast(d.scale, values.shape, d.axis)
    return np.ascontiguousarray(v, dtype=np.float32).reshape(values.shape)


def dequantize_block(block, values: np.ndarray, *, tensor: str, offset: int) -> np.ndarray:
    """Map a tensor's decoded values to float32 using its dequant block (16-byte header + body)."""
    values = np.asarray(values)
    d = parse_block(block, shape=values.shape, tensor=tensor, offset=offset)
    return apply(d, values, tensor=tensor, offset=offset)


def describe(block, *, shape: tuple[int, ...]) -> str:
    """A short human description, e.g. ``affine/axis0[384]`` or ``lut[31]``."""
    d = parse_block(block, shape=shape, tensor="", offset=0)
    where = "tensor" if d.axis is None else f"axis{d.axis}"
    if d.kind == KIND_AFFINE:
        return f"affine/{where}"
    if d.kind == KIND_LUT:
        return f"lut[{d.table.size}]"
    if d.kind == KIND_TRELLIS:
        return "trellis"
    return f"scaled_lut[{d.table.size}]/{where}"
