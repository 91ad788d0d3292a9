"""`anspack quickstart`: the README's first command, on the bundled digit classifier."""

from __future__ import annotations


import numpy as np

import anspack
from anspack.cli import main
from anspack.commands.quickstart import SETTINGS, load_bundled
from anspack.digits import predict


def test_quickstart_table_and_file(tmp_path, capsys):
    out = tmp_path / "q.anspack"
    assert main(["quickstart", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(SETTINGS)
    weights, X, y = load_bundled()
    fp32_acc = 100 * float((predict(weights, X) == y).mean())
    assert fp32_acc > 95
    accs = [float(r.split("|")[7].strip().rstrip(" %")) for r in rows]
    assert abs(accs[0] - fp32_acc) < 0.006  # fp32 is lossless (the table prints 2 decimals)
    assert all(a > fp32_acc - 3 for a in accs)  # every setting stays close
    sizes = [int(r.split("|")[3].replace(",", "")) for r in rows]
    assert sizes[0] > sizes[1] > sizes[2] > sizes[3]  # fp32 > fp16 > int8 > int4
    back = anspack.load(out, dequantize=True)
    assert set(back) == set(weights) and all(back[k].dtype == np.float32 for k in back)
