"""Rate-distortion report: bits per weight vs weight SNR for each quantization scheme on a model.

The weights are the float tensors with two or more dimensions (biases and LayerNorm vectors are
left out, as in the issue's figures). For each scheme:

* ``bits/w`` is the coded size: the rANS block each quantized tensor would get (static P-bit model,
  headers, vocabulary, CDF) plus its dequant block (scales, tables), over the number of weights;
* ``entropy`` is the order-0 entropy of the integers (what an ideal coder without side information pays);
* ``SNR`` is the size-weighted mean of the per-tensor SNR in dB ("weight SNR"); ``pooled`` is the SNR
  of all weights together.

The reference line is the Shannon bound for Gaussian sources with each row's variance, at the same
per-tensor SNR, by reverse water-filling over the rows (:func:`gaussian_bound`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from . import quantize as qz

FAMILIES_FULL = {
    "int/row sym (max)": [f"int{b},row" for b in (8, 6, 5, 4, 3, 2)],
    "int/row asym (max)": [f"int{b},row,asym" for b in (8, 6, 5, 4, 3)],
    "int/row sym (mse clip)": [f"int{b},row,clip=mse" for b in (8, 6, 5, 4, 3)],
    "int/tensor sym (max)": [f"int{b},tensor" for b in (8, 6, 5, 4)],
    "kmeans/tensor": [f"kmeans:{k}" for k in (256, 64, 32, 16, 8, 4)],
    "prune 50% + int8/row": ["prune:50,int8,row"],
    "ecq midpoints": [f"snr:{s},mid" for s in (10, 16.7, 25, 35)],
    "ecq centroids": [f"snr:{s}" for s in (10, 13, 16.7, 20, 25, 30, 35, 41)],
    "ecq trellis (tcq)": [f"snr:{s},tcq" for s in (10, 16.7, 25, 35)],
}
FAMILIES_QUICK = {
    "int/row sym (max)": [f"int{b},row" for b in (8, 4, 3)],
    "kmeans/tensor": [f"kmeans:{k}" for k in (16, 4)],
    "ecq midpoints": [f"snr:{s},mid" for s in (16.7, 30)],
    "ecq centroids": [f"snr:{s}" for s in (10, 16.7, 30)],
    "ecq trellis (tcq)": [f"snr:{s},tcq" for s in (16.7,)],
}


@dataclass
class Point:
    family: str
    scheme: str
    bits: float       # coded bits per weight (data blocks + dequant blocks)
    entropy: float    # order-0 entropy of the stored integers, bits per weight
    snr: float        # size-weighted mean of per-tensor SNR (dB)
    pooled: float     # SNR over all weights together (dB)


def weight_tensors(tensors: dict) -> dict:
    """The float tensors with ndim >= 2 (float32 copies)."""
    return {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()
            if np.asarray(v).dtype.kind == "f" and np.asarray(v).ndim >= 2 and np.asarray(v).size}


def evaluate(weights: dict, scheme: str, *, family: str = "", precision: int = 14) -> Point:
    """Quantize every weight tensor with ``scheme`` and measure rate and SNR."""
    n = bits = ent = 0.0
    wsnr = 0.0
    sig = err = 0.0
    for x in weights.values():
        r = qz.quantize(x, scheme, precision=precision)
        if r.q.dtype.kind in "iu":
            b = min(qz.coded_bits(r.q, precision=precision), 8.0 * r.q.nbytes)
            e = qz.entropy_bits(r.q) * x.size
        else:
            b = e = 8.0 * r.q.nbytes
        bits += b + 8.0 * len(r.block)
        ent += e
        x64 = x.astype(np.float64)
        d = x64 - r.recon.astype(np.float64)
        s2, e2 = float(np.sum(x64 * x64)), float(np.sum(d * d))
        sig += s2
        err += e2
        snr = 10 * math.log10(s2 / e2) if e2 > 0 and s2 > 0 else (300.0 if e2 == 0 else -300.0)
        wsnr += snr * x.size
        n += x.size
    return Point(family, scheme, bits / n, ent / n, wsnr / n, 10 * math.log10(sig / err) if err > 0 else 300.0)


def gaussian_bound(weights: dict, snr_db: float) -> float:
    """Bits per weight that Gaussian rows with the same per-row variances need at ``snr_db`` per tensor.

    For each tensor, the allowed mean distortion is ``mean(x^2) / 10^(snr/10)``; the rows (with their
    means removed, as a decoder could get them for free in the limit) are independent Gaussians, and reverse
    water-filling gives the rate ``mean_r max(0, log2(var_r / theta) / 2)`` with ``mean_r min(var_r, theta)``
    equal to the distortion left after the row means are known.
    """
    total = n = 0.0
    for x in weights.values():
        x2 = x.reshape(x.shape[0], -1).astype(np.float64)
        var = x2.var(axis=1)
        ms = float(np.mean(x2 * x2))
        D = ms / 10 ** (snr_db / 10)
        lo, hi = 0.0, float(var.max()) if var.size else 0.0
        if hi <= D:
            rate = 0.0
        else:
            for _ in range(100):
                th = 0.5 * (lo + hi)
                if np.mean(np.minimum(var, th)) > D:
                    hi = th
                else:
                    lo = th
            th = max(lo, 1e-300)
            rate = float(np.mean(np.maximum(0.0, 0.5 * np.log2(np.maximum(var, 1e-300) / th))))
        total += rate * x.size
        n += x.size
    return total / n if n else 0.0


def sweep(tensors: dict, families: dict | None = None, *, precision: int = 14, progress: bool = False) -> list[Point]:
    """Evaluate every scheme of every family on the model's weight tensors."""
    from tqdm import tqdm

    weights = weight_tensors(tensors)
    if not weights:
        raise ValueError("the model has no float tensors with 2 or more dimensions")
    families = FAMILIES_FULL if families is None else families
    jobs = [(fam, s) for fam, schemes in families.items() for s in schemes]
    out = []
    for fam, s in tqdm(jobs, desc="rd", unit="scheme", disable=not progress, file=sys.stderr, leave=False):
        out.append(evaluate(weights, s, family=fam, precision=precision))
    return out


def markdown(points: list[Point], bound_at: list[float], weights: dict) -> str:
    """The report table (and the Gaussian bound at each point's SNR)."""
    lines = ["| family | scheme | bits/w (coded) | entropy bits/w | weight SNR dB | pooled SNR dB | Gaussian bound bits/w at that SNR |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for p, g in zip(points, bound_at):
        lines.append(f"| {p.family} | `{p.scheme}` | {p.bits:.3f} | {p.entropy:.3f} | {p.snr:.2f} | {p.pooled:.2f} | {g:.3f} |")
    n = sum(x.size for x in weights.values())
    lines.append("")
    lines.append(f"{len(weights)} weight tensors, {n:,} weights. bits/w (coded) includes rANS headers, "
                 "vocabulary, CDF and dequant blocks (scales, tables); weight SNR is the size-weighted mean "
                 "of per-tensor SNR.")
    return "\n".join(lines)


def plot(points: list[Point], weights: dict, path: str, title: str = "") -> None:
    """Bits/weight vs weight SNR per family, with the Gaussian bound, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    fams: dict[str, list[Point]] = {}
    for p in points:
        fams.setdefault(p.family, []).append(p)
    for fam, ps in fams.items():
        ps = sorted(ps, key=lambda p: p.snr)
        ax.plot([p.snr for p in ps], [p.bits for p in ps], marker="o", ms=4, label=fam)
    snrs = [p.snr for p in points if p.snr < 200]
    if snrs:
        grid = np.linspace(max(min(snrs) - 1, 0.5), max(snrs) + 1, 40)
        ax.plot(grid, [gaussian_bound(weights, s) for s in grid], "k--", lw=1, label="Gaussian bound (per-row variance)")
    ax.set_xlabel("weight SNR (dB, size-weighted mean over tensors)")
    ax.set_ylabel("bits per weight (coded)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "anspack rate-distortion")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
