"""anspack: browser-decodable compressed neural-network weights.

Quantized integer tensors are entropy-coded with interleaved rANS into one .anspack file
(spec/FORMAT.md); the dependency-free JS decoder in ``jsdecoder/`` reads it back in a web page.

    >>> import numpy as np, anspack
    >>> t = {"layer.weight": np.arange(-8, 8, dtype=np.int8).reshape(4, 4)}
    >>> back = anspack.decode(anspack.encode(t))
    >>> bool((back["layer.weight"] == t["layer.weight"]).all())
    True

``encode`` stores integer tensors entropy-coded and float tensors as they are (losslessly);
``encode_model`` quantizes float tensors first, with the schemes of ``anspack encode`` (``--scheme`` /
``--rule`` texts):

    >>> w = {"fc.weight": np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)}
    >>> enc = anspack.encode_model(w, base="int4,row", rules=["*.bias=fp16"])
    >>> enc.schemes["fc.weight"], anspack.decode(enc.data, dequantize=True)["fc.weight"].dtype
    ('int4,row,sym,clip=max', dtype('float32'))
"""

__version__ = "0.1.0"

from .api import decode, decode_tensor, encode, load, read_header, save  # noqa: E402
from .commands.encode import encode_model  # noqa: E402
from .checksum import fxhash26  # noqa: E402
from .container import FileHeader, TensorInfo  # noqa: E402
from .errors import *  # noqa: E402,F401,F403
from .errors import FormatError  # noqa: E402

__all__ = [
    "encode", "encode_model", "decode", "decode_tensor", "save", "load", "read_header", "fxhash26", "FileHeader", "TensorInfo",
    "FormatError", "BadMagic", "UnsupportedVersion", "ReservedNonZero", "Truncated", "SizeMismatch", "BadTable",
    "BadMetadata", "BadLayout", "BadModel", "CorruptStream", "ChecksumMismatch", "LimitExceeded",
    "UnsupportedDequant", "BadDequant",
]
