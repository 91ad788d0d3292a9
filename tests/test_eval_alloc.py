"""Sensitivity and bit allocation (fast: the digits MLP and small synthetic tasks)."""

import numpy as np
import pytest

import anspack
from anspack import dequant as dq
from anspack.eval.allocate import Option, allocate, encode_with, format_plan, rd_options, solve
from anspack.eval.sensitivity import (DigitsTask, Task, column_scales, output_error, perturbation_gains)


class QuadraticTask(Task):
    """D = sum_t c_t * mean((W_t - W0_t)^2 * colweight): the allocator's model, exactly."""

    def __init__(self, weights, coef, colw=None):
        self.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.coef = coef
        self.colw = colw or {}

    def distortion(self, overrides):
        d = 0.0
        for k, v in overrides.items():
            e = (np.asarray(v, np.float64) - self.weights[k]) ** 2
            if k in self.colw:
                e = e * self.colw[k]
            d += self.coef[k] * float(e.mean())
        return d

    def input_moments(self):
        return dict(self.colw)


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(0, 1.0, (64, 32)).astype(np.float32),
            "b": rng.normal(0, 0.1, (48, 32)).astype(np.float32),
            "c": rng.normal(0, 0.5, (96,)).astype(np.float32),
            "ids": np.arange(10, dtype=np.int64)}


def test_perturbation_gains_recover_quadratic_coefficients():
    w = _weights()
    coef = {"a": 3.0, "b": 50.0, "c": 0.2}
    task = QuadraticTask({k: w[k] for k in coef}, coef)
    g = perturbation_gains(task, list(coef))
    for k in coef:
        assert g[k] == pytest.approx(coef[k], rel=1e-6)
    # with column scales, the gain is measured in the scaled domain: noise z/d costs colw/d^2
    colw = {"a": np.linspace(0.2, 3.0, 32)}
    task = QuadraticTask({"a": w["a"]}, {"a": 1.0}, colw)
    d = {"a": column_scales(colw["a"])}
    g = perturbation_gains(task, ["a"], col_scales=d)
    assert g["a"] == pytest.approx(float(np.mean(colw["a"] / d["a"].astype(np.float64) ** 2)), rel=0.05)


def test_column_scales_and_output_error():
    d = column_scales(np.array([4.0, 1.0, 1.0, 0.0]), clamp=8.0)
    assert d.dtype == np.float32 and d[3] == pytest.approx(1 / 8)
    assert np.all(column_scales(np.zeros(3)) == 1)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(5000, 6)) * np.array([3, 1, 1, 0.5, 2, 1])
    dW = rng.normal(size=(4, 6))
    gram = X.T @ X / len(X)
    assert output_error(gram, dW) == pytest.approx(float(np.mean(np.sum((X @ dW.T) ** 2, axis=1))), rel=1e-9)


def test_solve_meets_budget_and_favors_sensitive_tensors():
    w = _weights()
    opts = {k: rd_options(w[k]) for k in ("a", "b", "c")}
    sizes = {k: w[k].size for k in opts}
    gains = {"a": 1.0, "b": 1.0, "c": 1.0}
    budget = 4.0 * sum(sizes.values())
    choice, lam = solve(opts, gains, sizes=sizes, budget_bits=budget)
    assert sum(o.bits for o in choice.values()) <= budget
    # same gain per unit of squared error: the same absolute step (equal slope at high rate), so b
    # (10x smaller weights) spends log2(10) fewer bits per weight than a
    bpw = {k: choice[k].bits / sizes[k] for k in choice}
    assert choice["a"].step / choice["b"].step == pytest.approx(1.0, rel=0.35)  # quarter-octave grids
    assert bpw["a"] - bpw["b"] == pytest.approx(np.log2(10), abs=0.5)
    gains2 = {"a": 1.0, "b": 1000.0, "c": 1.0}
    choice2, _ = solve(opts, gains2, sizes=sizes, budget_bits=budget)
    assert choice2["b"].bits / sizes["b"] > bpw["b"] + 1.0
    assert choice2["a"].bits / sizes["a"] < bpw["a"]
    # a distortion target: the fewest bits that meet it (check against brute force on two tensors)
    two = {k: opts[k] for k in ("a", "b")}
    target = 1e-3
    choice3, _ = solve(two, gains, sizes=sizes, target_distortion=target)
    got = sum(o.bits for o in choice3.values())
    assert sum(gains[k] * o.mse for k, o in choice3.items()) <= target
    best = min(oa.bits + ob.bits for oa in two["a"] for ob in two["b"]
               if oa.mse + ob.mse <= target)
    assert got <= best * 1.03  # Lagrangian solutions lie on the convex hull: within a hair of the optimum
    with pytest.raises(ValueError):
        solve(opts, gains, sizes=sizes, budget_bits=10.0)  # below the smallest possible size
    with pytest.raises(ValueError):
        solve(opts, gains, sizes=sizes)


def test_rd_options_are_exact():
    w = _weights()["a"]
    from anspack import quantize as qz
    for o in rd_options(w)[2::12]:
        r = qz.uniform(w, o.step)
        assert float(np.mean((r.recon.astype(np.float64) - w) ** 2)) == pytest.approx(o.mse, rel=1e-5, abs=1e-12)
        assert qz.coded_bits(r.q, precision=14) <= o.bits <= qz.coded_bits(r.q, precision=14) + 8 * (24 + 4 * 2 ** 15)


def test_allocate_target_bits_file_and_bit_exact_roundtrip():
    w = _weights()
    task = QuadraticTask({k: w[k] for k in ("a", "b", "c")}, {"a": 1.0, "b": 5000.0, "c": 5.0},
                         {"a": np.linspace(0.1, 4.0, 32, dtype=np.float64)})
    alloc = allocate(w, target_bits=3.0, calibration=task, column_scaling=True)
    data = alloc.encode(w)
    assert 8 * len(data) <= 3.0 * alloc.n_entries
    assert alloc.plans["a"].col_scale is not None and alloc.plans["b"].col_scale is None
    back = anspack.decode(data, dequantize=True)
    q = alloc.quantize(w)
    for k in ("a", "b", "c"):
        assert np.array_equal(back[k], q[k].recon), k
    assert back["ids"].dtype == np.int32 and np.array_equal(back["ids"], w["ids"])
    hdr = anspack.read_header(data)
    blk = {t.name: t for t in hdr.tensors}
    assert blk["a"].dequant_size > 0
    desc = dq.parse_block(memoryview(data)[blk["a"].dequant_offset:blk["a"].dequant_offset + blk["a"].dequant_size],
                          shape=(64, 32), tensor="a", offset=0)
    assert desc.kind == dq.KIND_SCALED_LUT and desc.axis == 1
    assert hdr.metadata["anspack.schemes"]["a"].endswith("colscale")
    # the sensitive tensor got the finer quantization
    assert alloc.plans["b"].bits_per_weight > alloc.plans["a"].bits_per_weight
    assert "| tensor |" in format_plan(alloc)
    assert any(r.startswith("b=step:") for r in alloc.rules())
    with pytest.raises(ValueError):
        allocate(w, target_bits=3.0)  # no calibration, no gains
    with pytest.raises(ValueError):
        allocate(w, target_bits=3.0, target_distortion=0.1, calibration=task)


def test_allocate_distortion_target_verified():
    w = _weights(1)
    task = QuadraticTask({k: w[k] for k in ("a", "b", "c")}, {"a": 1.0, "b": 200.0, "c": 5.0})
    for target in (1e-2, 1e-4):
        alloc = allocate(w, target_distortion=target, calibration=task, column_scaling=False)
        rec = {k: r.recon for k, r in alloc.quantize(w).items()}
        assert task.distortion(rec) <= target
    assert alloc.est_bits_per_weight > 4


@pytest.fixture(scope="module")
def digits_model():
    from anspack import digits
    X_train, X_test, y_train, y_test = digits.load_split()
    w = digits.train(X_train, y_train, epochs=4)
    return w, X_train, X_test, y_test


def test_digits_allocation(digits_model):
    from anspack.eval.metrics import digits_accuracy
    w, X_train, X_test, y_test = digits_model
    task = DigitsTask(w, X_train[:300])
    assert task.distortion({}) == pytest.approx(0.0, abs=1e-12)
    assert set(task.input_moments()) == {"fc1.weight", "fc2.weight", "fc3.weight"}
    alloc = allocate(w, target_bits=4.0, calibration=task, column_scaling=True)
    data = alloc.encode(w)
    assert 8 * len(data) <= 4.0 * alloc.n_entries
    back = anspack.decode(data, dequantize=True)
    acc0 = digits_accuracy(w, X_test, y_test)
    acc = digits_accuracy(back, X_test, y_test)
    assert acc >= acc0 - 3.0
    actual = task.distortion(back)
    assert alloc.est_distortion / 3 < actual < alloc.est_distortion * 3  # the additive model holds roughly


def test_trellis_realization_saves_bits_at_equal_error():
    rng = np.random.default_rng(5)
    w = {"big": rng.laplace(0, 1.0, (256, 128)).astype(np.float32),
         "small": rng.normal(0, 0.5, (64,)).astype(np.float32)}
    task = QuadraticTask(dict(w), {"big": 1.0, "small": 4.0})
    from anspack.eval.allocate import Allocator
    al = Allocator(w, calibration=task)
    plain = al.run(target_bits=3.0)
    tcq = al.run(target_bits=3.0, trellis=True)
    assert tcq.trellis == {"big"}
    data = tcq.encode(w)
    assert 8 * len(data) <= 3.0 * tcq.n_entries
    back = anspack.decode(data, dequantize=True)
    assert anspack.read_header(data).metadata["anspack.schemes"]["big"].find("tcq") >= 0
    # the freed bits went into a finer plan: lower distortion than plain uniform quantization
    assert task.distortion(back) < task.distortion({k: r.recon for k, r in plain.quantize(w).items()})
    assert any(r.startswith("big=snr:") and r.endswith(",tcq") for r in tcq.rules())


def test_data_aware_rounding_option(digits_model):
    from anspack.eval.allocate import Allocator
    from anspack.eval.gptq import gptq_round, output_mse
    w, X_train, X_test, y_test = digits_model
    task = DigitsTask(w, X_train[:300])
    H = task.gram("fc2.weight")
    assert H.shape == (128, 128)
    W2 = w["fc2.weight"]
    s = float(np.std(W2))
    q = gptq_round(W2, H, s)
    assert output_mse(W2 - s * q, H) < 0.7 * output_mse(W2 - s * np.round(W2 / s), H)
    al = Allocator(w, calibration=task, data_aware=True)
    a = al.run(target_bits=2.5)
    assert any(p.option.gptq for p in a.plans.values())
    data = a.encode(w)
    assert 8 * len(data) <= 2.5 * a.n_entries
    back = anspack.decode(data, dequantize=True)
    qd = a.quantize(w)
    for n, p in a.plans.items():
        assert np.array_equal(back[n], qd[n].recon)
        if p.option.gptq:
            assert qd[n].scheme.endswith("gptq")
    # data-aware rounding beats plain rounding at the same budget on the calibration task
    plain = Allocator(w, calibration=task).run(target_bits=2.5)
    assert task.distortion(back) < task.distortion({n: r.recon for n, r in plain.quantize(w).items()})


def test_make_task_dispatch(digits_model):
    from anspack.eval.allocate import make_task
    w = digits_model[0]
    t = make_task(w, "builtin")
    assert isinstance(t, DigitsTask) and t.distortion({}) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="training images"):
        make_task(w, ["a sentence"])
    with pytest.raises(ValueError, match="BERT-family"):
        make_task({"x.weight": np.zeros((2, 2), np.float32)}, "builtin")
    with pytest.raises(ValueError, match="calibration"):
        allocate({"x.weight": np.ones((4, 4), np.float32)}, target_bits=3.0, calibration="builtin")
