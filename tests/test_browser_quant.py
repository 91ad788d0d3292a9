"""Cross-language dequantization: JS decode(buf, {dequantize: true}) == Python decode(dequantize=True),
bit for bit, for every quantization scheme and every dequant kind; malformed dequant blocks give the
same error codes in both decoders."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

import anspack
from anspack import dequant as dq
from anspack import quantize as qz
from anspack.commands.encode import encode_model

RNG = np.random.default_rng(1234)


def _weights(shape, scale=0.05, heavy=False):
    x = RNG.standard_normal(shape) * scale
    if heavy:
        x *= np.exp(RNG.standard_normal((shape[0],) + (1,) * (len(shape) - 1)) * 0.7)
    return x.astype(np.float32)


SCHEMES = [
    "int8,row", "int4,col", "int3,tensor", "int2,row", "int5,row,asym", "int4,col,asym,clip=mse",
    "int6,row,clip=p99.5", "int4,row,clip=mse", "snr:25", "snr:12,mid", "step:0.01,rdo:0.15",
    "bpw:2.5", "kmeans:16", "kmeans:256", "prune:50,snr:20", "prune:30,kmeans:8", "prune:40,int8,col", "fp16",
    "snr:18,tcq", "step:0.004,tcq,rdo:0.5", "prune:40,snr:15,tcq",
]


def _scheme_model():
    tensors, blocks = {}, {}
    for i, s in enumerate(SCHEMES):
        x = _weights((24, 40), heavy=i % 2 == 0)
        r = qz.quantize(x, s)
        name = f"t{i:02d}.{s}"
        tensors[name] = r.q
        if r.block:
            blocks[name] = r.block
    return tensors, blocks


def _kind_model():
    """Hand-built blocks covering the corners of section 12.1."""
    t, b = {}, {}
    # AFFINE, fractional zero point, large int32 values (f32(q) rounds), per axis 1 of a 3-D tensor
    q = RNG.integers(-(2**31), 2**31 - 1, size=(3, 5, 4), dtype=np.int64).astype(np.int32)
    t["affine_i32_axis1"] = q
    b["affine_i32_axis1"] = dq.affine_block(RNG.standard_normal(5).astype(np.float32) * 1e-7,
                                            RNG.standard_normal(5).astype(np.float32) * 1e6, axis=1)
    # AFFINE over a float16 tensor (per tensor), including subnormals and -0
    h = np.concatenate([RNG.standard_normal(60), [0.0, -0.0, 6e-8, -6e-8, 65504.0]]).astype(np.float16)
    t["affine_f16"] = h
    b["affine_f16"] = dq.affine_block(np.float32([0.3]), np.float32([0.1]))
    # AFFINE over float32 per last axis (scales that give subnormal results)
    f = RNG.standard_normal((4, 6)).astype(np.float32)
    t["affine_f32_axis1"] = f
    b["affine_f32_axis1"] = dq.affine_block(np.float32([1e-38, 3.0, -2.5, 1e-30, 7.0, 1.0]),
                                            np.float32([0.5, -0.25, 0, 1, 2, 3]), axis=1)
    # LUT over uint32 with a negative base (index = q - base computed exactly)
    u = RNG.integers(0, 9, size=50).astype(np.uint32)
    t["lut_u32"] = u
    b["lut_u32"] = dq.lut_block(RNG.standard_normal(12).astype(np.float32), base=-3)
    # SCALED_LUT per row and per tensor
    s = RNG.integers(-4, 5, size=(7, 9)).astype(np.int16)
    t["slut_rows"] = s
    b["slut_rows"] = dq.scaled_lut_block(RNG.standard_normal(9).astype(np.float32),
                                         RNG.standard_normal(7).astype(np.float32), base=-4, axis=0)
    t["slut_tensor"] = s.astype(np.int8)
    b["slut_tensor"] = dq.scaled_lut_block(np.linspace(-1, 1, 9, dtype=np.float32), np.float32([0.1]), base=-4)
    # empty tensor with a per-axis block
    t["empty"] = np.zeros((0, 3), np.int8)
    b["empty"] = dq.affine_block(np.float32([1, 2, 3]), np.float32([0, 0, 0]), axis=1)
    # a 0-d tensor
    t["scalar"] = np.array(5, dtype=np.uint8)
    b["scalar"] = dq.lut_block(np.arange(8, dtype=np.float32) / 3, base=0)
    # TRELLIS over int32 (|r| beyond 2^24: f32(r) rounds) and uint32 (parity of values above 2^31)
    t["trellis_i32"] = RNG.integers(-(2**31), 2**31 - 1, size=(6, 7), dtype=np.int64).astype(np.int32)
    b["trellis_i32"] = dq.trellis_block(np.float32(3.3e-9))
    t["trellis_u32"] = RNG.integers(0, 2**32 - 1, size=40, dtype=np.int64).astype(np.uint32)
    b["trellis_u32"] = dq.trellis_block(np.float32(0.7))
    t["trellis_i8"] = RNG.integers(-128, 128, size=(9, 11)).astype(np.int8)
    b["trellis_i8"] = dq.trellis_block(np.float32(1e-3))
    # integer tensor without a block stays integer; float16 raw without a block is widened
    t["ints"] = np.arange(-5, 5, dtype=np.int16)
    t["halfs"] = np.float16([1.5, -2.25, 1e-7])
    return t, b


def _check_same(browser_page, served_dir, data: bytes, name: str):
    url = served_dir.write(name, data)
    got = browser_page.evaluate("u => window.decodeUrl(u, {dequantize: true})", url)
    py = anspack.decode(data, dequantize=True)
    assert [t["name"] for t in got["tensors"]] == list(py)
    for t in got["tensors"]:
        want = py[t["name"]]
        expect_type = {"float32": "Float32Array", "int16": "Int16Array"}.get(want.dtype.name)
        if expect_type:
            assert t["arrayType"] == expect_type, t["name"]
        assert t["n"] == want.size, t["name"]
        le = want.astype(want.dtype.newbyteorder("<"), copy=False)
        assert t["sha256"] == hashlib.sha256(np.ascontiguousarray(le).tobytes()).hexdigest(), t["name"]
    return got, py


def test_every_scheme_bit_exact(served_dir, browser_page):
    tensors, blocks = _scheme_model()
    data = anspack.encode(tensors, dequant=blocks)
    got, py = _check_same(browser_page, served_dir, data, "schemes.anspack")
    assert all(py[n].dtype == np.float32 for n in tensors)
    assert len(got["tensors"]) == len(SCHEMES)


def test_every_kind_bit_exact(served_dir, browser_page):
    tensors, blocks = _kind_model()
    data = anspack.encode(tensors, dequant=blocks, raw=["affine_i32_axis1", "trellis_i32", "trellis_u32"])
    got, py = _check_same(browser_page, served_dir, data, "kinds.anspack")
    assert py["ints"].dtype == np.int16 and py["halfs"].dtype == np.float32
    # spot values of the subnormal results as numbers
    spots = browser_page.evaluate("u => window.decodeUrl(u, {dequantize: true}, {affine_f32_axis1: [0, 6, 12]})",
                                  served_dir.url_for("kinds.anspack"))
    t = next(t for t in spots["tensors"] if t["name"] == "affine_f32_axis1")
    assert t["spots"] == [float(v) for v in py["affine_f32_axis1"].reshape(-1)[[0, 6, 12]]]


def test_encoded_model_bit_exact(served_dir, browser_page):
    """The CLI pipeline (rules, defaults, pruning) decodes identically in the browser."""
    model = {
        "emb.weight": _weights((64, 16), heavy=True),
        "layer.0.weight": _weights((32, 48)),
        "layer.0.bias": _weights((32,)),
        "layer.1.weight": _weights((48, 32)),
        "ids": np.arange(12, dtype=np.int64).reshape(3, 4),
    }
    enc = encode_model(model, base="snr:18", rules=["layer.1.*=kmeans:8", "emb.*=int4,row,asym"])
    got, py = _check_same(browser_page, served_dir, enc.data, "model.anspack")
    for name, r in enc.recon.items():
        assert np.array_equal(py[name], r, equal_nan=False), name


def _corrupt(block: bytes, at: int, fmt: str, value) -> bytes:
    b = bytearray(block)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


BAD_BLOCKS = {
    "unknown kind": (np.arange(6, dtype=np.int8), lambda: _corrupt(dq.lut_block([1.0] * 16, base=-8), 0, "<I", 9),
                     "UnsupportedDequant"),
    "nan scale": (np.arange(6, dtype=np.int8), lambda: _corrupt(dq.affine_block([1.0]), 24, "<f", float("nan")),
                  "BadDequant"),
    "inf table": (np.arange(6, dtype=np.int8), lambda: _corrupt(dq.lut_block([1.0] * 6), 28, "<f", float("inf")),
                  "BadDequant"),
    "lut out of range": (np.arange(6, dtype=np.int8), lambda: dq.lut_block([1.0] * 5), "BadDequant"),
    "lut below base": (np.arange(6, dtype=np.int8), lambda: dq.lut_block([1.0] * 8, base=1), "BadDequant"),
    "lut on floats": (np.ones(6, np.float32), lambda: dq.lut_block([1.0] * 6), "BadDequant"),
    "count mismatch": (np.zeros((2, 3), np.int8), lambda: dq.affine_block([1.0, 2.0], [0, 0], axis=1), "BadDequant"),
    "axis too big": (np.zeros((2, 3), np.int8), lambda: dq.affine_block([1.0, 2.0], [0, 0], axis=2), "BadDequant"),
    "per tensor count 2": (np.zeros((2, 3), np.int8),
                           lambda: _corrupt(dq.affine_block([1.0, 2.0], [0, 0], axis=0), 16, "<I", 0xFFFFFFFF),
                           "BadDequant"),
    "body too short": (np.zeros(4, np.int8), lambda: dq.lut_block([1.0] * 4)[:-4], "BadDequant"),
    "trellis reserved": (np.zeros(4, np.int8), lambda: _corrupt(dq.trellis_block(0.5), 20, "<I", 3), "BadDequant"),
    "trellis on floats": (np.zeros(4, np.float16), lambda: dq.trellis_block(0.5), "BadDequant"),
    "trellis nan step": (np.zeros(4, np.int16), lambda: _corrupt(dq.trellis_block(0.5), 16, "<f", float("nan")),
                         "BadDequant"),
    "trellis long body": (np.zeros(4, np.int16), lambda: dq.trellis_block(0.5) + bytes(4), "BadDequant"),
    "scaled lut empty table": (np.zeros(4, np.int8),
                               lambda: _corrupt(dq.scaled_lut_block([1.0], [1.0]), 28, "<I", 0), "BadDequant"),
}


def _with_body_size(block: bytes) -> bytes:
    """Fix body_size so that only the kind-specific check fails (the envelope stays valid)."""
    return block[:8] + struct.pack("<Q", len(block) - 16) + block[16:]


@pytest.mark.parametrize("case", sorted(BAD_BLOCKS))
def test_bad_blocks_same_error(served_dir, browser_page, case):
    values, make, code = BAD_BLOCKS[case]
    data = anspack.encode({"w": values}, dequant={"w": _with_body_size(make())})
    with pytest.raises(anspack.FormatError) as e:
        anspack.decode(data, dequantize=True)
    assert e.value.code == code
    assert e.value.tensor == "w"
    anspack.decode(data)  # without dequantize the block is only checked for its layout
    url = served_dir.write(f"bad_{case.replace(' ', '_')}.anspack", data)
    err = browser_page.evaluate("u => window.decodeUrlError(u, {dequantize: true})", url)
    assert err is not None and err["isAnspackError"], err
    assert err["code"] == code, err
    assert err["tensor"] == "w"
    assert browser_page.evaluate("u => window.decodeUrlError(u, {})", url) is None


def test_minilm_layer_bit_exact(served_dir, browser_page):
    """Real weights (all-MiniLM-L6-v2 layer 0) through the CLI pipeline decode identically in JS."""
    from safetensors.numpy import load_file

    from test_quant_minilm import minilm_path

    t = load_file(minilm_path())
    layer = {k: v for k, v in t.items() if k.startswith("encoder.layer.0.")}
    enc = encode_model(layer, base="snr:16.7", rules=["*.attention.self.*=int4,row", "*.intermediate.*=kmeans:16",
                                                      "*.output.dense.*=snr:16.7,tcq"])
    got, py = _check_same(browser_page, served_dir, enc.data, "minilm_layer0.anspack")
    assert len(got["tensors"]) == 16
    assert sum(",tcq" in s for s in enc.schemes.values()) == 4  # attention.output and output, weight and bias
