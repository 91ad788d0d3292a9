"""The anspack CLI end to end: encode, info, verify, decode, rd on a small safetensors model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import anspack
from anspack import io as aio
from anspack.cli import main
from anspack.commands.encode import DTYPES_KEY, SCHEMES_KEY


def _model(seed=5):
    rng = np.random.default_rng(seed)
    return {
        "embeddings.weight": (rng.laplace(size=(64, 24)) * 0.03).astype(np.float32),
        "layer.0.dense.weight": (rng.standard_normal((32, 24)) * 0.05).astype(np.float32),
        "layer.0.dense.bias": (rng.standard_normal(32) * 0.01).astype(np.float32),
        "layer.0.LayerNorm.weight": (1 + rng.standard_normal(24) * 0.1).astype(np.float32),
        "layer.1.dense.weight": (rng.standard_normal((24, 32)) * 0.05).astype(np.float32),
        "position_ids": np.arange(16, dtype=np.int64).reshape(1, 16),
        "half.weight": (rng.standard_normal((8, 8)) * 0.1).astype(np.float16),
    }


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(_model(), str(path))
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _snr(x, y):
    x = x.astype(np.float64)
    return 10 * np.log10(np.sum(x * x) / np.sum((x - y.astype(np.float64)) ** 2))


@pytest.mark.parametrize("opts,check", [
    (["--bits", "4", "--per-row"], lambda m: m["layer.0.dense.weight"].startswith("int4,row")),
    (["--bits", "3", "--per-col", "--asym", "--clip", "mse"], lambda m: m["layer.0.dense.weight"] == "int3,col,asym,clip=mse"),
    (["--target-snr", "20"], lambda m: m["embeddings.weight"].startswith("ecq,snr=20")),
    (["--step", "0.01", "--rdo", "0.1"], lambda m: m["embeddings.weight"].startswith("ecq,step=0.01,rdo=0.1")),
    (["--target-bits", "3"], lambda m: m["embeddings.weight"].startswith("ecq,bpw=3")),
    (["--kmeans", "16"], lambda m: m["embeddings.weight"] == "kmeans=16"),
    (["--prune", "30", "--bits", "8"], lambda m: m["embeddings.weight"].startswith("prune=30,int8")),
    (["--prune", "30", "--prune-global", "--target-snr", "25"], lambda m: "(global)" in m["embeddings.weight"]),
    (["--fp16"], lambda m: m["embeddings.weight"] == "fp16"),
    (["--target-snr", "17", "--tcq"], lambda m: m["embeddings.weight"].endswith(",tcq")),
    (["--target-bits", "2.5", "--tcq"], lambda m: m["embeddings.weight"].startswith("ecq,bpw=2.5,step=")
     and m["embeddings.weight"].endswith(",tcq")),
    ([], lambda m: m["embeddings.weight"].startswith("ecq,snr=40") and m["embeddings.weight"].endswith(",tcq")),
])
def test_encode_decode_verify(tmp_path, model_file, capsys, opts, check):
    out = tmp_path / "m.anspack"
    code, text, err = run(["encode", model_file, "-o", out, *opts], capsys)
    assert code == 0, err
    assert "ratio" in text and "bits/weight" in text and "weight SNR" in text
    header = anspack.read_header(out.read_bytes())
    schemes = header.metadata[SCHEMES_KEY]
    assert check(schemes), schemes
    assert schemes["layer.0.dense.bias"] == "fp16" and "position_ids" not in schemes
    assert header.metadata[DTYPES_KEY]["position_ids"] == "int64"

    dec = tmp_path / "back.safetensors"
    code, text, err = run(["decode", out, "-o", dec], capsys)
    assert code == 0, err
    orig, back = _model(), load_file(str(dec))
    assert sorted(back) == sorted(orig)
    for k in orig:
        assert back[k].dtype == orig[k].dtype and back[k].shape == orig[k].shape, k
    assert np.array_equal(back["position_ids"], orig["position_ids"])
    assert _snr(orig["layer.0.dense.weight"], back["layer.0.dense.weight"]) > 8

    code, text, err = run(["verify", out, "--against", model_file], capsys)
    assert code == 0, err
    assert "all checksums OK" in text and "weight SNR" in text and "layer.1.dense.weight" in text


def test_target_snr_met_and_rules(tmp_path, model_file, capsys):
    out = tmp_path / "m.anspack"
    code, text, err = run(["encode", model_file, "-o", out, "--target-snr", "18", "--rule", "embeddings.*=kmeans:8",
                           "--rule", "*.bias=fp32", "--rule", "*LayerNorm*=snr:35", "-q"], capsys)
    assert code == 0 and text == "", (text, err)
    data = out.read_bytes()
    meta = anspack.read_header(data).metadata[SCHEMES_KEY]
    assert meta["embeddings.weight"] == "kmeans=8"
    assert meta["layer.0.dense.bias"] == "fp32"
    assert meta["layer.0.LayerNorm.weight"].startswith("ecq,snr=35")
    back = anspack.decode(data, dequantize=True)
    orig = _model()
    for name in ("layer.0.dense.weight", "layer.1.dense.weight"):
        assert 18 <= _snr(orig[name], back[name]) < 18.5
    assert np.array_equal(back["layer.0.dense.bias"], orig["layer.0.dense.bias"])
    code, text, err = run(["verify", out, "--against", model_file, "--min-snr", "60"], capsys)
    assert code == 1 and "below" in text


def test_encode_is_deterministic(tmp_path, model_file, capsys):
    a, b = tmp_path / "a.anspack", tmp_path / "b.anspack"
    for p in (a, b):
        assert run(["encode", model_file, "-o", p, "--target-bits", "2.5", "-q"], capsys)[0] == 0
    assert a.read_bytes() == b.read_bytes()


def test_npz_and_npy_inputs(tmp_path, capsys):
    m = _model()
    np.savez(tmp_path / "m.npz", **m)
    np.save(tmp_path / "w.npy", m["layer.0.dense.weight"])
    for src in ("m.npz", "w.npy"):
        out = tmp_path / (src + ".anspack")
        assert run(["encode", tmp_path / src, "-o", out, "--bits", "8", "-q"], capsys)[0] == 0
        code, text, _ = run(["decode", out, "-o", tmp_path / (src + ".back.npz")], capsys)
        assert code == 0
        back = aio.read_tensors(tmp_path / (src + ".back.npz"))
        assert sorted(back) == sorted(aio.read_tensors(tmp_path / src))


def test_decode_integers(tmp_path, model_file, capsys):
    out = tmp_path / "m.anspack"
    run(["encode", model_file, "-o", out, "--bits", "4", "-q"], capsys)
    code, _, _ = run(["decode", out, "-o", tmp_path / "ints.npz", "--integers"], capsys)
    assert code == 0
    ints = aio.read_tensors(tmp_path / "ints.npz")
    assert ints["layer.0.dense.weight"].dtype == np.int8 and np.abs(ints["layer.0.dense.weight"]).max() <= 7


def test_info(tmp_path, model_file, capsys):
    out = tmp_path / "m.anspack"
    run(["encode", model_file, "-o", out, "--bits", "4", "-q"], capsys)
    code, text, err = run(["info", out], capsys)
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0].split() == ["tensor", "shape", "stored", "scheme", "bits/w", "entropy", "bytes", "checksum",
                                "stream"]
    row = next(line for line in lines if line.startswith("layer.0.dense.weight"))
    h = anspack.read_header(out.read_bytes())["layer.0.dense.weight"]
    assert "32x24" in row and "int4,row" in row and f"{h.checksum:07x}" in row
    assert row.rstrip().endswith(f"P{h.precision} L{h.lanes}"
                                 + ((" product pairs" if h.product else " pairs") if h.pairs else ""))
    assert f"{h.data_size + h.dequant_size:,}" in row
    assert "7 tensors" in lines[-1]
    code, text, _ = run(["info", out, "--no-entropy"], capsys)
    assert code == 0 and " - " in text


def test_encode_pairs_and_chunk_options(tmp_path, model_file, capsys):
    out = tmp_path / "p.anspack"
    code, _, err = run(["encode", model_file, "-o", out, "--bits", "4", "-q", "--pairs", "on", "--chunk", "100"], capsys)
    assert code == 0, err
    h = anspack.read_header(out.read_bytes())
    t = h["layer.0.dense.weight"]  # 32x24 int4: pairs, 384 symbols in chunks of 100
    assert t.pairs and (t.chunk, t.chunks) == (100, 4)
    code, text, _ = run(["info", out], capsys)
    assert "pairs 4 chunks" in text
    code, _, err = run(["verify", out], capsys)
    assert code == 0, err
    code, _, err = run(["encode", model_file, "-o", out, "--bits", "4", "-q", "--pairs", "product"], capsys)
    assert code == 0, err
    h = anspack.read_header(out.read_bytes())
    assert h["layer.0.dense.weight"].product and h["layer.0.dense.weight"].pairs
    code, text, _ = run(["info", out], capsys)
    assert "product pairs" in text
    code, _, err = run(["verify", out], capsys)
    assert code == 0, err
    code, _, err = run(["encode", model_file, "-o", out, "--bits", "4", "-q", "--pairs", "off", "--chunk", "0"], capsys)
    assert code == 0 and not any(t.pairs or t.chunk for t in anspack.read_header(out.read_bytes()).tensors)
    code, _, err = run(["encode", model_file, "-o", out, "--chunk", "-3"], capsys)
    assert code == 2 and "--chunk" in err


def test_rd(tmp_path, model_file, capsys):
    png, md = tmp_path / "rd.png", tmp_path / "rd.md"
    code, text, err = run(["rd", model_file, "--png", png, "--md", md, "-q", "--scheme", "int4,row", "--scheme",
                           "snr:16.7", "--scheme", "kmeans:8"], capsys)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [r for r in md.read_text().splitlines() if r.startswith("| custom")]
    assert len(rows) == 3
    cells = {r.split("|")[2].strip(" `"): [c.strip() for c in r.split("|")] for r in rows}
    ecq = cells["snr:16.7"]
    assert 16.7 <= float(ecq[5]) < 17.0
    assert float(ecq[3]) > float(ecq[7]) > 0  # above the Gaussian bound


@pytest.mark.parametrize("argv,needle", [
    (["encode", "{model}", "-o", "{tmp}/x.anspack", "--rule", "nonsense"], "GLOB=SCHEME"),
    (["encode", "{model}", "-o", "{tmp}/x.anspack", "--scheme", "int12"], "bits"),
    (["encode", "{model}", "-o", "{tmp}/x.anspack", "--rule", "position_ids=int4", ], "needs floats"),
    (["encode", "{model}", "-o", "{tmp}/x.bin"], ".anspack"),
    (["encode", "{tmp}/missing.safetensors", "-o", "{tmp}/x.anspack"], "no such file"),
    (["encode", "{tmp}/junk.safetensors", "-o", "{tmp}/x.anspack"], "cannot read"),
    (["encode", "{model}", "-o", "{tmp}/x.anspack", "--prune-global"], "--prune"),
    (["encode", "{model}", "-o", "{tmp}/x.anspack", "--lanes", "0"], "lanes"),
    (["decode", "{tmp}/good.anspack", "-o", "{tmp}/x.txt"], ".npz"),
    (["rd", "{tmp}/junk.safetensors"], "cannot read"),
])
def test_usage_errors_exit_2_one_line(tmp_path, model_file, capsys, argv, needle):
    (tmp_path / "junk.safetensors").write_bytes(b"\x01" * 30)
    (tmp_path / "good.anspack").write_bytes(anspack.encode({"w": np.zeros(3, np.int8)}))
    argv = [a.format(model=model_file, tmp=tmp_path) for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("anspack: error:") and needle in err, err


def test_corrupt_file_exits_1(tmp_path, model_file, capsys):
    out = tmp_path / "m.anspack"
    run(["encode", model_file, "-o", out, "--bits", "4", "-q"], capsys)
    data = bytearray(out.read_bytes())
    h = anspack.read_header(bytes(data))["layer.0.dense.weight"]
    data[h.data_offset + h.data_size - 3] ^= 0x55  # a word of the stream
    out.write_bytes(bytes(data))
    for cmd in (["verify", out], ["decode", out, "-o", tmp_path / "x.npz"], ["info", out]):
        code, _, err = run(cmd, capsys)
        assert code == 1 and err.startswith("anspack: error: ") and err.count("\n") == 1, err


def test_console_script(tmp_path, model_file):
    """The installed entry point (python -m anspack) runs the same CLI."""
    out = tmp_path / "m.anspack"
    r = subprocess.run([sys.executable, "-m", "anspack", "encode", str(model_file), "-o", str(out), "--bits", "8"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "ratio" in r.stdout and out.exists()


def test_output_folder_checked_before_the_work(tmp_path, model_file, capsys, monkeypatch):
    """A -o into a folder that does not exist is a usage error (exit 2) before any quantization
    (encode) or decoding (decode), for .safetensors outputs too (no traceback from the writer)."""
    import anspack.commands.encode as enc_cmd

    def boom(*a, **k):
        raise AssertionError("quantized before the output folder was checked")

    monkeypatch.setattr(enc_cmd, "encode_model", boom)
    code, out, err = run(["encode", model_file, "-o", tmp_path / "nodir" / "m.anspack", "--bits", "4"], capsys)
    assert code == 2 and "output folder" in err and "nodir" in err
    monkeypatch.undo()
    good = tmp_path / "m.anspack"
    code, out, err = run(["encode", model_file, "-o", good, "--target-snr", "20"], capsys)
    assert code == 0
    assert "keep x1" in out   # position_ids, stored losslessly, is counted in the schemes line
    for name in ("out.safetensors", "out.npz"):
        code, out, err = run(["decode", good, "-o", tmp_path / "nodir" / name], capsys)
        assert code == 2 and "output folder" in err, (name, err)
    with pytest.raises(aio.InputError, match="output folder"):
        aio.write_tensors(tmp_path / "nodir" / "x.safetensors", {"a": np.zeros(2, np.float32)})


def test_rd_without_matplotlib(tmp_path, model_file, capsys, monkeypatch):
    """Without matplotlib, `anspack rd FILE` prints the table and says how to get the plot; an explicit
    --png is a usage error before the sweep."""
    import anspack.commands.rd as rd_cmd

    monkeypatch.setattr(rd_cmd, "_have_matplotlib", lambda: False)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["rd", model_file, "--quick", "-q", "--scheme", "int4,row"], capsys)
    assert code == 0 and "| custom" in out and "anspack[plot]" in out
    assert not (tmp_path / "rd.png").exists()
    code, out, err = run(["rd", model_file, "--quick", "-q", "--png", "x.png"], capsys)
    assert code == 2 and "anspack[plot]" in err and out == ""


def test_cli_small_mistakes(tmp_path, model_file, capsys):
    """Mistakes a new user makes get one-line usage errors before any work: a target SNR of 0 or below,
    tcq with fixed-width bits, verify --against a file that does not exist."""
    out = tmp_path / "m.anspack"
    code, _, err = run(["encode", model_file, "-o", out, "--target-snr", "-5"], capsys)
    assert code == 2 and "snr must be a positive number" in err
    code, _, err = run(["encode", model_file, "-o", out, "--bits", "4", "--tcq"], capsys)
    assert code == 2 and "tcq goes with a free step" in err
    from anspack import quantize as qz
    assert str(qz.parse_scheme("int4,tcq,snr:20")) == str(qz.parse_scheme("snr:20,tcq"))   # a later free step wins
    with pytest.raises(ValueError, match="tcq goes with a free step"):
        qz.parse_scheme("bits:4,tcq")
    assert run(["encode", model_file, "-o", out, "--bits", "4", "-q"], capsys)[0] == 0
    code, _, err = run(["verify", out, "--against", tmp_path / "missing.safetensors"], capsys)
    assert code == 2 and "no such file" in err


def test_cli_output_into_a_closed_pipe(tmp_path, model_file):
    """`anspack info m.anspack | head -1`: no BrokenPipeError traceback (3000 tensors: ~300 KB of lines,
    more than a pipe holds, so the writes outlive the reader)."""
    out = tmp_path / "m.anspack"
    out.write_bytes(anspack.encode({f"layer.{i}.weight": np.full(3, i % 7, np.int8) for i in range(3000)}))
    r = subprocess.run(f"{sys.executable} -m anspack info {out} | head -1", shell=True, capture_output=True, text=True)
    assert r.stdout.startswith("tensor") and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr
