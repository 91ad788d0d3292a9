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


def test_encode_with_gptq_rounding(tmp_path):
    model = resources.files("anspack").joinpath("data/digits_mlp.safetensors")
    out = tmp_path / "g.anspack"
    assert main(["encode", str(model), "-o", str(out), "--target-bits", "2.2", "--calibration", "builtin",
                 "--gptq", "-q"]) == 0
    weights, X, y = load_bundled()
    assert 8 * out.stat().st_size <= 2.2 * sum(a.size for a in weights.values()) * 1.01
    schemes = anspack.read_header(out.read_bytes()).metadata["anspack.schemes"]
    assert any("gptq" in s for s in schemes.values()), schemes
    acc = float((predict(anspack.load(out, dequantize=True), X) == y).mean())
    assert acc > 0.93, acc


def test_calibration_needs_target_bits(tmp_path, capsys):
    model = resources.files("anspack").joinpath("data/digits_mlp.safetensors")
    assert main(["encode", str(model), "-o", str(tmp_path / "x.anspack"), "--calibration", "builtin"]) == 2
    assert "--target-bits" in capsys.readouterr().err
    assert main(["encode", str(model), "-o", str(tmp_path / "x.anspack"), "--target-bits", "2", "--gptq"]) == 2


def test_target_gpu_lays_out_many_lanes(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "m.npz"
    np.savez(path, w=rng.standard_normal((512, 512)).astype(np.float32), b=rng.standard_normal(512).astype(np.float32))
    cpu, gpu = tmp_path / "cpu.anspack", tmp_path / "gpu.anspack"
    assert main(["encode", str(path), "-o", str(cpu), "--target-snr", "20", "-q"]) == 0
    assert main(["encode", str(path), "-o", str(gpu), "--target-snr", "20", "--target", "gpu", "-q"]) == 0
    hc, hg = anspack.read_header(cpu.read_bytes())["w"], anspack.read_header(gpu.read_bytes())["w"]
    assert hc.lanes == 8 and hg.lanes >= 256
    assert gpu.stat().st_size < cpu.stat().st_size * 1.02
    a, b = anspack.load(cpu, dequantize=True)["w"], anspack.load(gpu, dequantize=True)["w"]
    assert a.tobytes() == b.tobytes()  # same quantization, only the lane layout differs
