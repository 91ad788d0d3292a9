"""Reading and writing model weights: safetensors, .npz and .npy (never pickle).

    >>> import numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> t = {"w": np.ones((2, 3), np.float32), "ids": np.arange(4, dtype=np.int64)}
    >>> write_tensors(os.path.join(d, "m.safetensors"), t)
    >>> back = read_tensors(os.path.join(d, "m.safetensors"))
    >>> sorted((k, v.dtype.name, v.shape) for k, v in back.items())
    [('ids', 'int64', (4,)), ('w', 'float32', (2, 3))]
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

SUFFIXES_IN = (".safetensors", ".npz", ".npy")
SUFFIXES_OUT = (".safetensors", ".npz")


class InputError(ValueError):
    """An input weights file that cannot be read (bad suffix, pickled objects, corrupt)."""


def _suffix(path) -> str:
    return os.path.splitext(str(path))[1].lower()


def read_tensors(path) -> dict[str, np.ndarray]:
    """Read named tensors from a .safetensors, .npz or .npy file, in the file's order.

    A .npy file gives one tensor named after the file's stem. Object arrays (pickle) are refused.
    """
    path = os.fspath(path)
    suffix = _suffix(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        try:
            return dict(load_file(path))
        except (SafetensorError, ValueError, TypeError, OSError) as e:
            raise InputError(f"{path}: cannot read safetensors: {e}") from None
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {name: z[name] for name in z.files}
        except (ValueError, OSError, zipfile.BadZipFile, KeyError) as e:
            raise InputError(f"{path}: cannot read npz: {e}") from None
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(f"{path}: cannot read npy: {e}") from None
        return {os.path.splitext(os.path.basename(path))[0]: arr}
    raise InputError(f"{path}: unknown input type {suffix or '(none)'} (use {', '.join(SUFFIXES_IN)})")


def check_output_dir(path) -> None:
    """Raise InputError when the folder that output file ``path`` goes into does not exist (commands call
    this before their work, so that a typo in -o does not cost minutes of quantization)."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise InputError(f"{path}: the output folder {folder} does not exist")


def write_tensors(path, tensors: dict[str, np.ndarray]) -> None:
    """Write named tensors to .npz (uncompressed) or .safetensors, chosen by the suffix."""
    path = os.fspath(path)
    suffix = _suffix(path)
    check_output_dir(path)
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    if suffix == ".safetensors":
        from safetensors.numpy import save_file
        save_file(arrays, path)
    elif suffix == ".npz":
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    else:
        raise InputError(f"{path}: unknown output type {suffix or '(none)'} (use {', '.join(SUFFIXES_OUT)})")


# dtypes anspack stores directly, and how the others are stored (losslessly where possible)
STORED = {"int8", "uint8", "int16", "uint16", "int32", "uint32", "float16", "float32"}


def to_storable(name: str, arr: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A dtype the container holds, and the original dtype name if it had to change (else None).

    int64/uint64 tensors whose values fit 32 bits become int32/uint32; bool becomes uint8; float64
    becomes float32 (lossy, the only lossy case). Anything else raises :class:`InputError`.
    """
    a = np.asarray(arr)
    dt = a.dtype.name
    if dt in STORED:
        return a, None
    if dt == "bool":
        return a.astype(np.uint8), dt
    if dt in ("int64", "uint64"):
        if a.size == 0:
            return a.astype(np.int32), dt
        lo, hi = int(a.min()), int(a.max())
        if -(2**31) <= lo and hi < 2**31:
            return a.astype(np.int32), dt
        if lo >= 0 and hi < 2**32:
            return a.astype(np.uint32), dt
        raise InputError(f"tensor {name!r}: {dt} values beyond 32 bits cannot be stored")
    if dt == "float64":
        return a.astype(np.float32), dt
    raise InputError(f"tensor {name!r}: dtype {dt} is not supported")


def restore_dtype(arr: np.ndarray, original: str | None) -> np.ndarray:
    """Undo :func:`to_storable`'s dtype change (for decoded integer / float tensors)."""
    if not original or arr.dtype.name == original:
        return arr
    return arr.astype(np.dtype(original))
