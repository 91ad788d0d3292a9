"""Golden vectors (tests/vectors/): the encoder writes them byte for byte; the decoder reads them back."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import anspack

VECTORS = Path(__file__).resolve().parent / "vectors"
spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
make_vectors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_vectors)
BUILT = make_vectors.build()
VALID = sorted(p.stem for p in VECTORS.glob("*.anspack"))
BAD = json.loads((VECTORS / "bad" / "index.json").read_text())


def test_vector_set_is_complete():
    assert set(BUILT) == {str(p.relative_to(VECTORS)) for p in VECTORS.rglob("*") if p.suffix in (".anspack", ".json")}
    assert "worked_example" in VALID and len(VALID) >= 7 and len(BAD) >= 10


@pytest.mark.parametrize("rel", sorted(BUILT))
def test_encoder_reproduces_vector_bytes(rel):
    assert (VECTORS / rel).read_bytes() == BUILT[rel], f"{rel} changed: the encoder's output is not stable"


@pytest.mark.parametrize("name", VALID)
def test_decoder_matches_expected_json(name):
    data = (VECTORS / f"{name}.anspack").read_bytes()
    exp = json.loads((VECTORS / f"{name}.json").read_text())
    out = anspack.decode(data)
    h = anspack.read_header(data)
    assert exp["file_size"] == len(data)
    assert h.metadata == exp["metadata"]
    assert [t["name"] for t in exp["tensors"]] == list(out)
    for t in exp["tensors"]:
        a = out[t["name"]]
        assert list(a.shape) == t["shape"] and a.dtype.name == t["dtype"]
        assert h[t["name"]].checksum == t["checksum"]
        if "bits" in t:
            assert a.reshape(-1).view(f"u{a.dtype.itemsize}").tolist() == t["bits"]
        else:
            assert a.reshape(-1).tolist() == t["data"]


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_vectors_raise_their_code(name):
    data = (VECTORS / "bad" / f"{name}.anspack").read_bytes()
    with pytest.raises(anspack.FormatError) as info:
        anspack.decode(data)
    assert info.value.code == BAD[name]


DEQUANTIZE = json.loads((VECTORS / "bad" / "dequantize.json").read_text())


@pytest.mark.parametrize("name", sorted(DEQUANTIZE))
def test_dequantize_vectors_raise_their_code(name):
    """Spec section 12 / rule 10: a dequant block's kind and body are checked only when dequantizing,
    after the tensor's checksums and before the next tensor's."""
    data = (VECTORS / "bad" / f"{name}.anspack").read_bytes()
    with pytest.raises(anspack.FormatError) as info:
        anspack.decode(data, dequantize=True)
    assert info.value.code == DEQUANTIZE[name]["dequantize"]
    if DEQUANTIZE[name]["integers"] == "OK":
        anspack.decode(data)
    else:
        with pytest.raises(anspack.FormatError) as info:
            anspack.decode(data)
        assert info.value.code == DEQUANTIZE[name]["integers"]


def test_worked_example_hex_in_spec_matches_file():
    """spec/FORMAT.md section 16 shows the worked example's bytes; they must be the vector's bytes."""
    text = (VECTORS.parent.parent / "spec" / "FORMAT.md").read_text()
    section = text.split("## 16. Worked example", 1)[1].split("\n## ", 1)[0]
    dump = section.split("```hexdump", 1)[1].split("```", 1)[0]
    hex_bytes = bytearray()
    for line in dump.strip().splitlines():
        hex_bytes += bytes.fromhex(line.split("|")[0].split(":", 1)[1])
    assert bytes(hex_bytes) == (VECTORS / "worked_example.anspack").read_bytes()
    out = anspack.decode(bytes(hex_bytes))
    assert out["w"].tolist() == np.array(json.loads((VECTORS / "worked_example.json").read_text())["tensors"][0]["data"]).reshape(3, 8).tolist()
