"""Data-aware rounding (error feedback in the spirit of GPTQ) on a uniform grid.

For a linear layer ``y = x Wᵀ`` with input second moments ``H = E[x xᵀ]``, the columns of ``W`` are
rounded one after another to multiples of ``step``; the rounding error of column ``j`` is pushed onto the
columns not yet rounded, weighted by the inverse Hessian, so that the *output* error
``tr(ΔW H ΔWᵀ)`` is much smaller than rounding each weight to nearest would give — at nearly the same
entropy. The integers are stored with an AFFINE dequant block (``v = q · step``).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 8))
    >>> H = X.T @ X / len(X)
    >>> W = rng.normal(size=(16, 8))
    >>> q = gptq_round(W, H, 0.5)
    >>> rtn = np.round(W / 0.5)
    >>> bool(output_mse(W - 0.5 * q, H) < output_mse(W - 0.5 * rtn, H))
    True
"""

from __future__ import annotations

import numpy as np


def output_mse(dW: np.ndarray, H: np.ndarray) -> float:
    """``tr(ΔW H ΔWᵀ) / (out · tr(H))``: the per-weight error variance that i.i.d. noise would need to
    cause the same output error (equals the weight MSE for i.i.d. errors)."""
    dW = np.asarray(dW, np.float64)
    H = np.asarray(H, np.float64)
    tr = float(np.trace(H))
    if dW.size == 0 or tr <= 0:
        return float(np.mean(dW * dW)) if dW.size else 0.0
    return float(np.einsum("ij,jk,ik->", dW, H, dW)) / (dW.shape[0] * tr)


def gptq_round(W: np.ndarray, H: np.ndarray, step: float, *, damp: float = 0.01) -> np.ndarray:
    """Integers ``q`` (int64, shape of ``W``) with ``q · step ≈ W`` minimizing the output error."""
    W = np.array(W, dtype=np.float64)
    n_in = W.shape[1]
    Hd = np.asarray(H, np.float64) + damp * max(float(np.mean(np.diag(H))), 1e-12) * np.eye(n_in)
    dead = np.diag(H) <= 0
    Hd[dead, dead] = 1.0
    U = np.linalg.cholesky(np.linalg.inv(Hd)).T  # upper-triangular factor of H^-1
    Q = np.zeros(W.shape, np.int64)
    for j in range(n_in):
        q = np.round(W[:, j] / step)
        Q[:, j] = q.astype(np.int64)
        err = (W[:, j] - q * step) / U[j, j]
        if j + 1 < n_in:
            W[:, j + 1:] -= np.outer(err, U[j, j + 1:])
    return Q
