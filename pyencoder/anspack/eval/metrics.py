"""Task metrics: embedding fidelity (sentence encoders) and classification accuracy (digits MLP).

Embedding fidelity compares the embeddings of a compressed model with those of the float32 reference
on the same sentences:

* ``mean_cos`` / ``min_cos``: cosine between each sentence's two embeddings (1.0 = identical);
* ``spearman``: Spearman rank correlation between the two models' pairwise similarity matrices (upper
  triangle), i.e. whether the compressed model ranks sentence pairs the same way.

    >>> import numpy as np
    >>> a = np.eye(3, dtype=np.float32)
    >>> f = embedding_fidelity(a, a)
    >>> (f.mean_cos, f.min_cos, f.spearman)
    (1.0, 1.0, 1.0)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


def packaged_sentences() -> Path:
    """The 302 held-out evaluation sentences shipped with the package (``anspack/data/sentences.txt``):
    ``anspack eval``'s default and the rate-quality benchmark's."""
    from importlib import resources

    return Path(str(resources.files("anspack").joinpath("data", "sentences.txt")))


def read_sentences(path: str | os.PathLike) -> list[str]:
    """Sentences from a text file (one per line; blank lines and ``#`` comments skipped) or a JSON list
    (of strings, or of objects with a ``"text"`` / ``"sentence"`` field)."""
    import json

    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        data = json.loads(text)
        out = []
        for item in data:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and ("text" in item or "sentence" in item):
                out.append(str(item.get("text", item.get("sentence"))))
            else:
                raise ValueError(f"{p}: expected a JSON list of strings or {{'text': ...}} objects")
        return out
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _normalize(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, dtype=np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-30)


def row_cosines(ref: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``test`` with the same row of ``ref`` (float64)."""
    if ref.shape != test.shape:
        raise ValueError(f"embedding shapes differ: {ref.shape} vs {test.shape}")
    return np.sum(_normalize(ref) * _normalize(test), axis=1)


def _rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), like scipy.stats.rankdata."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(x.size, np.float64)
    # boundaries of runs of equal values
    edges = np.flatnonzero(np.diff(xs)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [x.size]])
    avg = (starts + ends - 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length vectors.

    >>> spearman(np.array([1., 2., 3., 4.]), np.array([10., 20., 15., 40.]))
    0.8
    """
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    if a.size != b.size:
        raise ValueError("spearman: lengths differ")
    if a.size < 2:
        return 1.0
    ra, rb = _rankdata(a), _rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    if den == 0.0:
        return 1.0 if np.array_equal(ra, rb) else 0.0
    return round(float((ra * rb).sum() / den), 12)


def pairwise_upper(e: np.ndarray) -> np.ndarray:
    """Upper-triangle (i < j) cosine similarities of the rows of ``e``."""
    n = _normalize(e)
    s = n @ n.T
    iu = np.triu_indices(s.shape[0], k=1)
    return s[iu]


@dataclass
class Fidelity:
    mean_cos: float
    min_cos: float
    spearman: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def embedding_fidelity(ref: np.ndarray, test: np.ndarray) -> Fidelity:
    """Mean / min per-sentence cosine and Spearman of pairwise similarities, ``test`` vs ``ref``."""
    c = row_cosines(ref, test)
    return Fidelity(mean_cos=round(float(c.mean()), 12), min_cos=round(float(c.min()), 12),
                    spearman=spearman(pairwise_upper(ref), pairwise_upper(test)), n=int(c.size))


def cosine_distortion(ref: np.ndarray, test: np.ndarray) -> float:
    """``1 - mean cosine``: the distortion the allocator minimizes for sentence encoders."""
    return float(1.0 - row_cosines(ref, test).mean())


# ----------------------------------------------------------------------------------------------
# digits MLP


def digits_accuracy(weights: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy (%) of the demo's digits MLP (:mod:`anspack.digits`) with these weights."""
    from .. import digits

    pred = digits.predict({k: np.asarray(v, np.float32) for k, v in weights.items()}, X)
    return float(100.0 * np.mean(pred == np.asarray(y)))


def digits_logits(weights: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    from .. import digits

    return np.asarray(digits.forward_fast({k: np.asarray(v, np.float32) for k, v in weights.items()}, X),
                      np.float64)
