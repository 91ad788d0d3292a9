"""Dequantization descriptors (spec/FORMAT.md section 12): integers -> float32.

Placeholder until the quantization front-end defines the kinds: every block is UnsupportedDequant.
"""

from __future__ import annotations

import numpy as np

from .errors import UnsupportedDequant


def dequantize_block(block: memoryview, values: np.ndarray, *, tensor: str, offset: int) -> np.ndarray:
    """Map a tensor's decoded values to float32 using its dequant block (16-byte header + body)."""
    kind = int.from_bytes(bytes(block[:4]), "little")
    raise UnsupportedDequant(f"dequant kind {kind} is not defined", offset=offset, tensor=tensor)


def validate_block(block: memoryview, *, shape: tuple[int, ...], tensor: str, offset: int) -> None:
    """Check a dequant block's layout against the spec without dequantizing."""
    kind = int.from_bytes(bytes(block[:4]), "little")
    raise UnsupportedDequant(f"dequant kind {kind} is not defined", offset=offset, tensor=tensor)
