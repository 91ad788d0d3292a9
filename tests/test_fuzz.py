"""Bounded mutation-fuzzing runs of both decoders (long campaigns: `python -m anspack.fuzz --help`)."""

from __future__ import annotations

import shutil

import pytest

from anspack.fuzz import decode, default_corpus, generate_cases, run_js, run_python


@pytest.fixture(scope="module")
def corpus():
    files = default_corpus()
    return files, [decode(d) for d in files]


@pytest.mark.parametrize("seed", [11, 12])
def test_python_decoder_survives_mutations(corpus, seed):
    files, originals = corpus
    cases = list(generate_cases(files, 3000, seed))
    outcomes, failures = run_python(cases, originals, files, time_limit=5.0)
    assert not failures, "\n".join(failures[:10])
    assert sum(outcomes.values()) == 3000
    # the run reached deep checks, not just the header
    for code in ("CorruptStream", "ChecksumMismatch", "BadModel", "BadLayout"):
        assert outcomes[f"rejected {code}"] > 0, outcomes


def test_js_decoder_survives_mutations(corpus):
    node = shutil.which("node")
    assert node, "node is needed for the JS decoder tests"
    files, originals = corpus
    cases = list(generate_cases(files, 2000, 13))
    outcomes, failures = run_js(cases, originals, files, time_limit=5.0, node=node)
    assert not failures, "\n".join(failures[:10])
    assert sum(outcomes.values()) == 2000
    for code in ("CorruptStream", "ChecksumMismatch", "BadModel", "BadLayout"):
        assert outcomes[f"rejected {code}"] > 0, outcomes


def test_both_decoders_agree_on_the_verdict(corpus):
    """Case by case, both decoders accept (returning the same tensors) or both reject. The error code
    may differ where a case breaks several rules at once, since the spec does not order the checks."""
    files, originals = corpus
    cases = list(generate_cases(files, 1500, 14))
    py, _ = run_python(cases, originals, files)
    js, failures = run_js(cases, originals, files, time_limit=5.0)
    assert not failures
    assert len(py.sequence) == len(js.sequence) == len(cases)
    for c, a, b in zip(cases, py.sequence, js.sequence):
        assert a.startswith("rejected") == b.startswith("rejected"), (c.index, c.mutations, a, b)
        if not a.startswith("rejected"):
            assert a == b, (c.index, c.mutations, a, b)
    same_code = sum(a == b for a, b in zip(py.sequence, js.sequence))
    assert same_code > 0.6 * len(cases)
