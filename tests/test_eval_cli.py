"""``anspack eval``: task metric next to bits/weight."""

import json

import numpy as np
import pytest

import anspack
from anspack.cli import main
from anspack.eval.allocate import encode_with
from anspack import quantize as qz


def run_cli(capsys, *argv):
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    from anspack import digits
    d = tmp_path_factory.mktemp("digits")
    X_train, X_test, y_train, y_test = digits.load_split()
    w = digits.train(X_train, y_train, epochs=2)
    digits.save_safetensors(d / "ref.safetensors", w)
    q = {k: qz.quantize(v, "int4,row") for k, v in w.items() if v.ndim == 2}
    (d / "m.anspack").write_bytes(encode_with(w, q))
    return d, w, X_test, y_test


def test_eval_digits(capsys, digits_files):
    from anspack.eval.metrics import digits_accuracy
    d, w, X_test, y_test = digits_files
    rc, out, _ = run_cli(capsys, "eval", str(d / "m.anspack"), "--reference", str(d / "ref.safetensors"), "--json")
    assert rc == 0
    r = json.loads(out)
    data = (d / "m.anspack").read_bytes()
    assert r["task"] == "digits" and r["bytes"] == len(data)
    assert r["bits_per_weight"] == pytest.approx(8 * len(data) / sum(v.size for v in w.values()))
    assert r["accuracy"] == pytest.approx(digits_accuracy(anspack.decode(data, dequantize=True), X_test, y_test))
    assert r["reference_accuracy"] == pytest.approx(digits_accuracy(w, X_test, y_test))
    rc, out, _ = run_cli(capsys, "eval", str(d / "m.anspack"), "--reference", str(d / "ref.safetensors"))
    assert rc == 0 and "bits/weight" in out and "digits test accuracy" in out and "fp32" in out


def test_eval_minilm_fp16(capsys, tmp_path):
    from anspack.eval.bert import default_model_dir, load_safetensors
    w = load_safetensors(default_model_dir() / "model.safetensors")
    q = {k: qz.to_fp16(v) for k, v in w.items() if v.dtype.kind == "f"}
    f = tmp_path / "minilm-fp16.anspack"
    f.write_bytes(encode_with(w, q))
    sents = tmp_path / "s.txt"
    sents.write_text("The weather is lovely today.\nIt's so sunny outside!\n# comment\nHe drove to the stadium.\n")
    rc, out, _ = run_cli(capsys, "eval", str(f), "--sentences", str(sents), "--json")
    assert rc == 0
    r = json.loads(out)
    assert r["task"] == "sentence-encoder" and r["n_sentences"] == 3
    assert 16.0 < r["bits_per_weight"] < 16.1
    assert 0.9999 < r["mean_cos"] <= 1.0 + 1e-9 and r["min_cos"] > 0.9999
    rc, out, _ = run_cli(capsys, "eval", str(f), "--limit", "2")
    assert rc == 0 and "mean cos" in out and "on 2 sentences" in out


def test_eval_errors(capsys, tmp_path):
    p = tmp_path / "x.anspack"
    p.write_bytes(anspack.encode({"foo": np.zeros(4, np.int8)}))
    rc, _, err = run_cli(capsys, "eval", str(p))
    assert rc == 2 and "no task metric" in err
    rc, _, err = run_cli(capsys, "eval", str(tmp_path / "missing.anspack"))
    assert rc == 2 and "no such file" in err
    rc, _, err = run_cli(capsys, "eval", str(p), "--limit", "0")
    assert rc == 2
    bad = tmp_path / "bad.anspack"
    bad.write_bytes(b"\x89ANSPACK" + b"\0" * 40)
    rc, _, err = run_cli(capsys, "eval", str(bad))
    assert rc == 1 and "error" in err


def test_eval_installed_package_needs(capsys, tmp_path, digits_files, monkeypatch):
    """What `pip install anspack` gives: the 302 evaluation sentences ship in the package (the default of
    --sentences), the digits metric uses the bundled test images (no scikit-learn), and a missing
    tokenizers package is a usage error naming the extra, not a traceback."""
    import sys

    from anspack.eval.bert import BertEncoder
    from anspack.eval.metrics import packaged_sentences, read_sentences

    assert len(read_sentences(packaged_sentences())) == 302
    d, _, X_test, y_test = digits_files
    from anspack.digits import load_bundled_test

    X, y = load_bundled_test()   # the package's copy of load_split's test part
    assert np.array_equal(X, X_test) and np.array_equal(y, y_test)
    monkeypatch.setitem(sys.modules, "sklearn", None)   # import sklearn -> ImportError
    rc, out, _ = run_cli(capsys, "eval", str(d / "m.anspack"), "--json")
    assert rc == 0 and 0 < json.loads(out)["accuracy"] <= 100

    def no_tokenizers(*a, **k):
        raise ImportError("No module named 'tokenizers'")

    monkeypatch.setattr(BertEncoder, "from_pretrained", no_tokenizers)
    f = tmp_path / "minilm-like.anspack"
    f.write_bytes(anspack.encode({"embeddings.word_embeddings.weight": np.zeros((4, 4), np.float32)}))
    rc, _, err = run_cli(capsys, "eval", str(f))
    assert rc == 2 and "anspack[eval]" in err and "Traceback" not in err
