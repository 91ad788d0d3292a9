"""Per-tensor sensitivity: how much task quality a weight error costs, from calibration inputs.

Two measurements, used together by :mod:`anspack.eval.allocate`:

* **Input statistics** (:meth:`Task.input_moments`): for a linear layer ``y = x Wᵀ`` the output error of a
  weight error ``ΔW`` is ``E‖ΔW x‖² = tr(ΔW Σx ΔWᵀ)`` with ``Σx = E[x xᵀ]`` over calibration tokens.
  For independent errors only the diagonal matters: column ``j`` of ``W`` costs ``Σx[j, j]`` per unit
  of squared error, so columns that see large activations deserve a finer step. ``input_moments``
  returns that diagonal (mean 1 after normalisation is up to the caller) and :func:`output_error`
  evaluates the full trace for a given ``ΔW``.
* **Task gain by perturbation** (:func:`perturbation_gains`): the distortion ``D`` of the task metric
  (``1 - mean cosine`` of sentence embeddings vs fp32, or the KL divergence of a classifier's outputs)
  when tensor ``t`` alone gets i.i.d. Gaussian noise of variance ``σ²`` (optionally shaped per column),
  divided by ``σ²``. For small errors ``D`` is quadratic in the error, so ``D_t ≈ g_t · mse_t`` and the
  total is additive over tensors; this captures what the input statistics cannot: how much a layer's
  output error is amplified or damped on its way to the embedding (residual paths, LayerNorm, pooling).

A :class:`Task` wraps a model + calibration inputs: :class:`BertTask` (sentence encoders, reusing cached
hidden states so that perturbing layer ``k`` only re-runs layers ``k…``) and :class:`DigitsTask` (the
demo's MLP).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np


class Task:
    """A model plus calibration inputs. Subclasses implement :meth:`distortion`.

    ``weights`` holds every tensor (float32 reference values) by its file name.
    """

    weights: dict[str, np.ndarray]

    def distortion(self, overrides: Mapping[str, np.ndarray]) -> float:
        """Task distortion (0 = identical to the reference) with some tensors replaced."""
        raise NotImplementedError

    def input_moments(self) -> dict[str, np.ndarray]:
        """Per-input-column second moments ``E[x_j²]`` for each linear weight (name -> (in,))."""
        return {}

    def names(self) -> list[str]:
        """Tensors the task's forward pass reads (those worth a sensitivity)."""
        return list(self.weights)

    def gram(self, name: str) -> np.ndarray | None:
        """``H = E[x xᵀ]`` of the linear weight ``name``'s inputs, or None if unknown."""
        return None

    def gram_split(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``H`` over two disjoint halves of the calibration inputs (fit on one, measure on the other)."""
        return None


# ----------------------------------------------------------------------------------------------
# sentence encoders


def builtin_calibration() -> list[str]:
    from .calibration_text import BUILTIN_SENTENCES

    return list(BUILTIN_SENTENCES)


def calibration_sentences(spec) -> list[str]:
    """``None``/``"builtin"`` -> the built-in sentences; a path -> sentences read from it; a list -> itself."""
    if spec is None or (isinstance(spec, str) and spec == "builtin"):
        return builtin_calibration()
    if isinstance(spec, (list, tuple)):
        return [str(s) for s in spec]
    from .metrics import read_sentences

    return read_sentences(spec)


class BertTask(Task):
    """Embedding distortion ``1 - mean cos`` of a :class:`~anspack.eval.bert.BertEncoder` on calibration
    sentences. The reference pass caches every layer's input, so a perturbed tensor in encoder layer
    ``k`` costs only layers ``k…`` of compute."""

    def __init__(self, encoder, sentences: Sequence[str], *, batch_size: int = 64):
        from .metrics import row_cosines  # noqa: F401  (import check)

        self.encoder = encoder
        self.prefix = encoder.prefix
        self.weights = {encoder.prefix + k: v for k, v in encoder.weights.items()}
        sents = list(sentences)
        if not sents:
            raise ValueError("calibration needs at least one sentence")
        lengths = [len(e.ids) for e in encoder.tokenizer.encode_batch(sents)]
        order = np.argsort(lengths, kind="stable")
        self._order = order
        self.batches = []
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            self.batches.append(encoder.tokenize([sents[i] for i in idx]))
        self._moments: dict[str, np.ndarray] = {}
        self._grams: dict[str, np.ndarray] = {}
        self._grams_a: dict[str, np.ndarray] = {}
        self._grams_b: dict[str, np.ndarray] = {}
        self._tok_ab: dict[str, np.ndarray] = {}
        self._tokens = 0
        self.layer_inputs: list[list[np.ndarray]] = []
        refs = []
        for ids, mask, tt in self.batches:
            xs = [encoder.embed(ids, mask, tt, record=self._record)]
            for i in range(encoder.layers):
                xs.append(encoder.run_layers(xs[-1], mask, start=i, stop=i + 1, record=self._record))
            self._tokens += int(mask.sum())
            self.layer_inputs.append(xs)
            refs.append(self._embed_out(xs[-1], mask))
        self.reference = self._unsort(np.concatenate(refs))
        for k in self._grams:
            self._grams[k] /= max(self._tokens, 1)
            self._grams_a[k] /= max(self._tok_ab[k][0], 1)
            self._grams_b[k] /= max(self._tok_ab[k][1], 1)
            self._moments[k] = np.diag(self._grams[k]).copy()

    def _record(self, name: str, x: np.ndarray, _mask) -> None:
        if x.ndim == 2:  # linear input (tokens, in)
            x64 = x.astype(np.float64)
            a, b = x64[0::2], x64[1::2]
            ga, gb = a.T @ a, b.T @ b
            self._grams[name] = self._grams.get(name, 0) + ga + gb
            self._grams_a[name] = self._grams_a.get(name, 0) + ga
            self._grams_b[name] = self._grams_b.get(name, 0) + gb
            self._tok_ab[name] = self._tok_ab.get(name, np.zeros(2)) + np.array([len(a), len(b)])

    def _unsort(self, e: np.ndarray) -> np.ndarray:
        """Rows from batch (length) order back to the sentences' order."""
        out = np.empty_like(e)
        out[self._order] = e
        return out

    def _embed_out(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        e = self.encoder.pool(hidden, mask).astype(np.float64)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-30)

    def input_moments(self) -> dict[str, np.ndarray]:
        return dict(self._moments)

    def gram(self, name: str) -> np.ndarray | None:
        """``Σx = E[x xᵀ]`` over calibration tokens for the linear weight ``name``."""
        return self._grams.get(name)

    def gram_split(self, name: str):
        if name not in self._grams_a:
            return None
        return self._grams_a[name], self._grams_b[name]

    def names(self) -> list[str]:
        return self.encoder.weight_names()

    def _start_layer(self, names: Iterable[str]) -> int:
        start = self.encoder.layers
        for n in names:
            k = n[len(self.prefix):]
            if k.startswith("encoder.layer."):
                start = min(start, int(k.split(".")[2]))
            elif k in self.encoder.weights:
                return -1
        return start

    def embeddings(self, overrides: Mapping[str, np.ndarray]) -> np.ndarray:
        enc = self.encoder
        saved = {}
        try:
            for n, v in overrides.items():
                k = n[len(self.prefix):]
                if k in enc.weights:
                    saved[k] = enc.weights[k]
                    enc.weights[k] = np.asarray(v, np.float32)
            start = self._start_layer(overrides)
            out = []
            for (ids, mask, tt), xs in zip(self.batches, self.layer_inputs):
                if start < 0:
                    x = enc.run_layers(enc.embed(ids, mask, tt), mask)
                elif start >= enc.layers:
                    x = xs[-1]
                else:
                    x = enc.run_layers(xs[start], mask, start=start)
                out.append(self._embed_out(x, mask))
            return self._unsort(np.concatenate(out))
        finally:
            enc.weights.update(saved)

    def distortion(self, overrides: Mapping[str, np.ndarray]) -> float:
        e = self.embeddings(overrides)
        return float(1.0 - np.mean(np.sum(e * self.reference, axis=1)))


def output_error(gram: np.ndarray, dW: np.ndarray) -> float:
    """``tr(ΔW Σx ΔWᵀ)``: expected squared output error per token of the weight error ``ΔW`` (out, in).

    >>> output_error(np.diag([4.0, 1.0]), np.array([[1.0, 0.0], [0.0, 2.0]]))
    8.0
    """
    dW = np.asarray(dW, np.float64)
    return float(np.einsum("ij,jk,ik->", dW, np.asarray(gram, np.float64), dW))


# ----------------------------------------------------------------------------------------------
# classifiers (the demo's digits MLP)


class DigitsTask(Task):
    """Mean KL divergence ``KL(p_ref ‖ p_test)`` of the digits MLP's softmax on calibration images."""

    def __init__(self, weights: Mapping[str, np.ndarray], X: np.ndarray):
        from .. import digits

        self.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.X = np.asarray(X)
        self._digits = digits
        self.ref_logp = self._logp(self.weights)
        # input moments of each layer (inputs are 0..16 / 16 then ReLU activations)
        self._moments = {}
        self._grams = {}
        self._splits = {}
        h = self.X.astype(np.float64) / digits.INPUT_SCALE
        names = digits.layer_names(self.weights)
        for li, name in enumerate(names):
            self._moments[f"{name}.weight"] = np.mean(h * h, axis=0)
            self._grams[f"{name}.weight"] = h.T @ h / max(len(h), 1)
            a, b = h[0::2], h[1::2]
            self._splits[f"{name}.weight"] = (a.T @ a / max(len(a), 1), b.T @ b / max(len(b), 1))
            h = h @ self.weights[f"{name}.weight"].T.astype(np.float64) + self.weights[f"{name}.bias"]
            if li < len(names) - 1:
                h = np.maximum(h, 0.0)

    def _logp(self, weights) -> np.ndarray:
        z = np.asarray(self._digits.forward_fast(weights, self.X), np.float64)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def input_moments(self) -> dict[str, np.ndarray]:
        return dict(self._moments)

    def gram(self, name: str) -> np.ndarray | None:
        return self._grams.get(name)

    def gram_split(self, name: str):
        return self._splits.get(name)

    def distortion(self, overrides: Mapping[str, np.ndarray]) -> float:
        w = dict(self.weights)
        w.update({k: np.asarray(v, np.float32) for k, v in overrides.items()})
        lp = self._logp(w)
        return float(np.mean(np.sum(np.exp(self.ref_logp) * (self.ref_logp - lp), axis=1)))


# ----------------------------------------------------------------------------------------------
# perturbation


def column_scales(moments: np.ndarray, *, clamp: float = 8.0) -> np.ndarray:
    """Per-column weights ``d_j = sqrt(E[x_j²] / mean E[x²])``, clamped to ``[1/clamp, clamp]``.

    Quantizing ``W · d`` (column ``j`` scaled by ``d_j``) with one step ``s`` gives column ``j`` an
    effective step ``s / d_j``, which equalizes ``Σx[j,j] · step_j²`` across columns (the optimum for
    independent errors at high rate).

    >>> [round(float(v), 3) for v in column_scales(np.array([4.0, 1.0, 1.0, 0.0]))]
    [1.633, 0.816, 0.816, 0.125]
    """
    m = np.asarray(moments, np.float64)
    mean = float(m.mean()) if m.size else 0.0
    if not mean > 0:
        return np.ones(m.shape, np.float32)
    d = np.sqrt(m / mean)
    return np.clip(d, 1.0 / clamp, clamp).astype(np.float32)


def perturbation_gains(task: Task, names: Sequence[str], *, col_scales: Mapping[str, np.ndarray] | None = None,
                       target: float = 1e-4, seed: int = 0, progress: Callable[[str], None] | None = None
                       ) -> dict[str, float]:
    """``g_t = D(W_t + σ·z/d) / σ²`` for each tensor (distortion per unit of per-weight error variance,
    measured in the column-scaled domain when ``col_scales[t]`` is given).

    ``σ`` starts at 5 % of the tensor's RMS and is rescaled once (to land near ``target``) if the first
    measurement is far from it, so that ``D`` is well above float32 noise and still in the quadratic
    regime. Deterministic for a given ``seed``.
    """
    col_scales = col_scales or {}
    base = task.distortion({})
    gains: dict[str, float] = {}
    for i, name in enumerate(names):
        w = np.asarray(task.weights[name], np.float32)
        rng = np.random.default_rng([seed, i])
        z = rng.standard_normal(w.shape)
        z_var = float(np.mean(z * z)) if z.size else 1.0  # the realized noise variance (scaled domain)
        d = col_scales.get(name)
        if d is not None:
            z = z / np.asarray(d, np.float64)  # broadcast over the last axis (columns)
            ws = w.astype(np.float64) * d
        else:
            ws = w.astype(np.float64)
        rms = float(np.sqrt(np.mean(ws * ws))) if ws.size else 0.0
        sigma = 0.05 * rms if rms > 0 else 1e-3
        g = 0.0
        for attempt in range(3):
            D = task.distortion({name: (w + sigma * z).astype(np.float32)}) - base
            g = max(D, 0.0) / (sigma * sigma * z_var)
            if target / 1000 <= D <= target * 100 or attempt == 2:
                break
            if D <= target * 1e-6:  # no measurable effect (e.g. a key bias under softmax): try 10x once
                if attempt == 1:
                    break
                sigma *= 10.0
            else:
                sigma *= math.sqrt(target / D)
        gains[name] = float(g)
        if progress is not None:
            progress(name)
    return gains
