"""`anspack encode --target-bits B --calibration builtin`: task-aware allocation from the command line."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

import anspack
from anspack.cli import main
from anspack.commands.quickstart import load_bundled
from anspack.digits import predict


def test_encode_with_calibration_meets_the_budget(tmp_path, capsys):
    model = resources.files("anspack").joinpath("data/digits_mlp.safetensors")
    out = tmp_path / "a.anspack"
    assert main(["encode", str(model), "-o", str(out), "--target-bits", "2.5", "--calibration", "builtin", "-q"]) == 0
    weights, X, y = load_bundled()
    n = sum(a.size for a in weights.values())
    assert 8 * out.stat().st_size <= 2.5 * n * 1.01  # whole file, headers included
    back = anspack.load(out, dequantize=True)
    assert set(back) == set(weights)
    acc = float((predict(back, X) == y).mean())
    assert acc > 0.93, acc
    schemes = anspack.read_header(out.read_bytes()).metadata["anspack.schemes"]
    assert len(set(schemes.values())) > 1  # tensors got different settings


def test_calibration_needs_target_bits(tmp_path, capsys):
    model = resources.files("anspack").joinpath("data/digits_mlp.safetensors")
    assert main(["encode", str(model), "-o", str(tmp_path / "x.anspack"), "--calibration", "builtin"]) == 2
    assert "--target-bits" in capsys.readouterr().err
