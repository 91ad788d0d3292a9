"""Errors raised for malformed anspack files (spec/FORMAT.md section 14).

Every decoder failure is a :class:`FormatError` subclass named as in the spec, whose message names
the field, the byte offset and the tensor, and whose attributes carry them::

    >>> import anspack
    >>> try:
    ...     anspack.decode(b"not an anspack file, but long enough to hold a header.....")
    ... except anspack.BadMagic as e:
    ...     print(e.code, e.offset)
    BadMagic 0
"""

from __future__ import annotations


class FormatError(ValueError):
    """A malformed or unsupported anspack file.

    Attributes:
        code: the spec's error name (``"BadMagic"``, ``"Truncated"``, ...).
        offset: byte offset in the file where the problem was found, or None.
        tensor: name of the tensor concerned, or None.
    """

    code = "FormatError"

    def __init__(self, message: str, *, offset: int | None = None, tensor: str | None = None):
        where = []
        if tensor is not None:
            where.append(f"tensor {tensor!r}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        super().__init__(f"{self.code}: {message}" + (f" ({', '.join(where)})" if where else ""))
        self.offset = offset
        self.tensor = tensor


def _make(name: str, doc: str) -> type[FormatError]:
    return type(name, (FormatError,), {"code": name, "__doc__": doc, "__module__": __name__})


BadMagic = _make("BadMagic", "The first 8 bytes are not the anspack magic.")
UnsupportedVersion = _make("UnsupportedVersion", "The format version is not one this decoder reads.")
ReservedNonZero = _make("ReservedNonZero", "A reserved field, flag or padding byte is not zero.")
Truncated = _make("Truncated", "The file ends before a structure it declares.")
SizeMismatch = _make("SizeMismatch", "The header's file_size disagrees with the actual length.")
BadTable = _make("BadTable", "A tensor table entry is malformed.")
BadMetadata = _make("BadMetadata", "The metadata is not a UTF-8 JSON object.")
BadLayout = _make("BadLayout", "A block offset or size is not where the spec places it.")
BadModel = _make("BadModel", "An rANS header, vocabulary, CDF or state is invalid.")
CorruptStream = _make("CorruptStream", "The word stream under-runs, over-runs or ends in a wrong state.")
ChecksumMismatch = _make("ChecksumMismatch", "The decoded ids do not hash to the stored checksum.")
LimitExceeded = _make("LimitExceeded", "A size exceeds the format's or the caller's limit.")
UnsupportedDequant = _make("UnsupportedDequant", "The dequantization descriptor kind is unknown.")
BadDequant = _make("BadDequant", "A dequantization block is malformed.")

ALL_ERRORS = (
    BadMagic, UnsupportedVersion, ReservedNonZero, Truncated, SizeMismatch, BadTable, BadMetadata,
    BadLayout, BadModel, CorruptStream, ChecksumMismatch, LimitExceeded, UnsupportedDequant, BadDequant,
)

__all__ = ["FormatError", "ALL_ERRORS"] + [e.__name__ for e in ALL_ERRORS]
