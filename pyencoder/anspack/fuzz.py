"""Mutation fuzzing of the anspack decoders (Python here; JS through node, see ``tests/fuzz/run_js.mjs``).

A case is a valid file from a corpus with one or more mutations applied: bit flips, byte sets,
truncation, splicing with another file, inflated length fields, and chunk duplication. For each case a
decoder must either raise its format error (``anspack.FormatError`` / ``AnspackError``) or return
exactly the original tensors. Anything else — another exception, a hang past the per-case time bound,
or a different tensor returned without an error — is a failure.

    python -m anspack.fuzz --cases 5000 --seed 1            # Python decoder
    python -m anspack.fuzz --cases 5000 --seed 1 --js       # both decoders (needs node)

    >>> corpus = default_corpus()
    >>> cases = list(generate_cases(corpus, 20, seed=3))
    >>> len(cases), all(isinstance(c.data, bytes) for c in cases)
    (20, True)
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .api import decode, encode, read_header
from .errors import FormatError

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Case:
    index: int
    source: int  # index of the corpus file
    mutations: list[str]
    data: bytes


def default_corpus() -> list[bytes]:
    """Small valid files covering every structure: the golden vectors if present, plus generated files."""
    files = []
    vectors = REPO / "tests" / "vectors"
    if vectors.is_dir():
        files += [p.read_bytes() for p in sorted(vectors.glob("*.anspack"))]
    rng = np.random.default_rng(0)
    g = np.round(rng.standard_normal((23, 17)) * 4).astype(np.int8)
    files.append(encode({"g": g, "h": (g * 3).astype(np.int16), "f": rng.standard_normal(5).astype(np.float32)},
                        lanes=5, metadata={"k": "v"}))
    files.append(encode({"wide": rng.integers(-300, 300, 900).astype(np.int16)}, precision=10, lanes=1))
    files.append(encode({"empty": np.zeros((0,), np.uint8), "s": np.array(3, np.int32)}))
    return files


def _field_offsets(data: bytes) -> list[tuple[int, str]]:
    """Offsets of the length/offset/count fields, for targeted inflation."""
    out = [(16, "<Q"), (24, "<I"), (28, "<I"), (32, "<I")]
    try:
        h = read_header(data, verify=False)
    except FormatError:
        return out
    for t in h.tensors:
        e = t.entry_offset
        out += [(e, "<Q"), (e + 8, "<Q"), (e + 16, "<Q"), (e + 24, "<Q"), (e + 40, "<H")]
        out += [(e + 48 + 8 * k, "<Q") for k in range(len(t.shape))]
        if t.coding == "groups":  # G, group_sizes (spec section 7.4), then each sub-block's fields
            G = len(t.groups)
            out += [(t.data_offset, "<I")] + [(t.data_offset + 8 + 8 * g, "<Q") for g in range(min(G, 4))]
        for b in (t.groups if t.coding == "groups" else [t] if t.coding == "rans" else []):
            out += [(b.data_offset, "<I"), (b.data_offset + 4, "<I"), (b.data_offset + 8, "<Q"),
                    (b.data_offset + 16, "<B"), (b.data_offset + 17, "<B"), (b.data_offset + 20, "<I")]
            if b.chunk:  # chunk_words (spec section 7.2)
                table = b.data_offset + 24 + 4 * b.lanes * b.chunks
                out += [(table + 4 * k, "<I") for k in range(min(b.chunks, 4))]
    return out


def mutate(data: bytes, other: bytes, rng: np.random.Generator) -> tuple[bytes, list[str]]:
    """Apply 1-3 random mutations; return the new bytes and a description of each."""
    b = bytearray(data)
    done = []
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(0, 7))
        if not b:
            b = bytearray(data)
        if kind == 0:  # bit flip
            pos = int(rng.integers(0, len(b)))
            bit = int(rng.integers(0, 8))
            b[pos] ^= 1 << bit
            done.append(f"flip {pos}:{bit}")
        elif kind == 1:  # byte set to an interesting value
            pos = int(rng.integers(0, len(b)))
            val = [0, 1, 0x7F, 0x80, 0xFF, int(rng.integers(0, 256))][int(rng.integers(0, 6))]
            b[pos] = val
            done.append(f"set {pos}={val}")
        elif kind == 2:  # truncation
            cut = int(rng.integers(0, len(b)))
            b = b[:cut]
            done.append(f"truncate {cut}")
        elif kind == 3:  # splice: prefix of this file, suffix of another
            cut = int(rng.integers(0, len(b)))
            cut2 = int(rng.integers(0, len(other) + 1))
            b = b[:cut] + bytearray(other[cut2:])
            done.append(f"splice {cut}+other[{cut2}:]")
        elif kind == 4:  # inflate a length / offset / count field
            fields = [f for f in _field_offsets(bytes(b)) if f[0] + struct.calcsize(f[1]) <= len(b)]
            if fields:
                off, fmt = fields[int(rng.integers(0, len(fields)))]
                bits = 8 * struct.calcsize(fmt)
                choices = [0, 1, (1 << bits) - 1, 1 << (bits - 1), 1 << min(bits - 1, 40),
                           int(rng.integers(0, 1 << min(bits, 62)))]
                val = choices[int(rng.integers(0, len(choices)))]
                struct.pack_into(fmt, b, off, val)
                done.append(f"inflate {off}{fmt}={val}")
        elif kind == 5:  # duplicate a chunk (shifts everything after it)
            pos = int(rng.integers(0, len(b)))
            ln = int(rng.integers(1, 17))
            b = b[:pos] + b[pos:pos + ln] + b[pos:]
            done.append(f"dup {pos}+{ln}")
        else:  # delete a chunk
            pos = int(rng.integers(0, len(b)))
            ln = int(rng.integers(1, 9))
            del b[pos:pos + ln]
            done.append(f"delete {pos}+{ln}")
    # Let half of the cases past the file_size gate, and some past the header checksum, so that the
    # deeper checks see the damage too.
    if len(b) >= 24 and rng.random() < 0.5:
        struct.pack_into("<Q", b, 16, len(b))
        done.append("fix file_size")
        if len(b) >= 40 and rng.random() < 0.5:
            table_size, meta_size = struct.unpack_from("<II", b, 28)
            end = 40 + table_size + meta_size
            if end <= len(b):
                from .container import header_checksum

                struct.pack_into("<I", b, 36, 0)
                struct.pack_into("<I", b, 36, header_checksum(bytes(b), end))
                done.append("fix header_checksum")
    return bytes(b), done


def generate_cases(corpus: list[bytes], count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(count):
        src = int(rng.integers(0, len(corpus)))
        other = corpus[int(rng.integers(0, len(corpus)))]
        data, muts = mutate(corpus[src], other, rng)
        yield Case(i, src, muts, data)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def same_tensors(a: dict, b: dict) -> bool:
    if list(a) != list(b):
        return False
    return all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a)


def expected_output(c: Case, corpus: list[bytes], originals: list[dict]) -> dict:
    """What a successful decode of ``c`` must return: the source file's tensors, or, where the mutations
    happened to rebuild another corpus file byte for byte, that file's tensors."""
    for i, data in enumerate(corpus):
        if c.data == data:
            return originals[i]
    return originals[c.source]


class _Recorder(collections.Counter):
    """Outcome counts that also remember each case's outcome in order (``.sequence``)."""

    def __init__(self):
        super().__init__()
        self.sequence: list[str] = []

    def add(self, outcome: str) -> None:
        self[outcome] += 1
        self.sequence.append(outcome)


def run_python(cases, originals: list[dict], corpus: list[bytes], *, time_limit: float = 2.0) -> tuple[collections.Counter, list[str]]:
    """Decode every case with the Python decoder; return outcome counts (with ``.sequence``, the
    outcome of each case in order) and failure descriptions."""
    outcomes = _Recorder()
    failures = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for c in cases:
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            try:
                out = decode(c.data)
                signal.setitimer(signal.ITIMER_REAL, 0)
                if same_tensors(out, expected_output(c, corpus, originals)):
                    outcomes.add("identical")
                elif "fix header_checksum" in c.mutations:
                    # The header was re-signed after the damage: a valid file with other names or
                    # shapes is a correct answer; only crashes and hangs count for such cases.
                    outcomes.add("decoded (re-signed header)")
                else:
                    outcomes.add("FAIL differs")
                    failures.append(f"case {c.index} {c.mutations}: decoded without error to different tensors")
            except FormatError as e:
                signal.setitimer(signal.ITIMER_REAL, 0)
                outcomes.add(f"rejected {e.code}")
            except _Timeout:
                outcomes.add("FAIL hang")
                failures.append(f"case {c.index} {c.mutations}: no answer within {time_limit} s")
            except Exception as e:  # noqa: BLE001 - every other exception is a finding
                signal.setitimer(signal.ITIMER_REAL, 0)
                outcomes.add(f"FAIL {type(e).__name__}")
                failures.append(f"case {c.index} {c.mutations}: {type(e).__name__}: {e}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return outcomes, failures


def run_js(cases, originals: list[dict], corpus: list[bytes], *, time_limit: float = 2.0,
           node: str = "node") -> tuple[collections.Counter, list[str]]:
    """Decode every case with the JS decoder in node (tests/fuzz/run_js.mjs), same judgement as Python.

    A case that gives no answer within ``time_limit`` seconds (after node's start-up) counts as a hang:
    node is killed and restarted after that case.
    """
    import queue
    import threading

    runner = REPO / "tests" / "fuzz" / "run_js.mjs"
    cases = list(cases)
    outcomes = _Recorder()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, data in enumerate(corpus):
            (tmp / f"orig{i}.bin").write_bytes(data)
        index = []
        with open(tmp / "cases.bin", "wb") as f:
            for c in cases:
                index.append({"source": c.source, "offset": f.tell(), "size": len(c.data),
                              "resigned": "fix header_checksum" in c.mutations})
                f.write(c.data)
        (tmp / "index.json").write_text(json.dumps({"corpus": len(corpus), "cases": index}))
        done = 0
        while done < len(cases):
            proc = subprocess.Popen([node, str(runner), str(tmp), str(done)], stdout=subprocess.PIPE, text=True)
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)],
                             daemon=True).start()
            timeout = time_limit + 10  # the first answer includes node's start-up and the corpus decode
            while True:
                try:
                    line = lines.get(timeout=timeout)
                except queue.Empty:
                    line = "hang"
                if line is None or line == "hang":
                    break
                timeout = time_limit
                r = json.loads(line)
                c = cases[r["i"]]
                outcomes.add(r["outcome"])
                if r["outcome"].startswith("FAIL"):
                    failures.append(f"case {c.index} {c.mutations}: {r['outcome']} {r.get('message', '')[:300]}")
                done = r["i"] + 1
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if done < len(cases):
                c = cases[done]
                what = "hang" if line == "hang" else f"crash (node exit {proc.returncode})"
                outcomes.add(f"FAIL {what}")
                failures.append(f"case {c.index} {c.mutations}: {what}")
                done += 1
    return outcomes, failures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m anspack.fuzz", description="Mutation-fuzz the anspack decoders.")
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=2.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--js", action="store_true", help="also run the JS decoder in node")
    ap.add_argument("--no-python", action="store_true", help="skip the Python decoder")
    args = ap.parse_args(argv)
    corpus = default_corpus()
    originals = [decode(d) for d in corpus]
    cases = list(generate_cases(corpus, args.cases, args.seed))
    failed = False
    runs = []
    if not args.no_python:
        runs.append(("python", lambda: run_python(cases, originals, corpus, time_limit=args.time_limit)))
    if args.js:
        runs.append(("js (node)", lambda: run_js(cases, originals, corpus, time_limit=args.time_limit)))
    for name, fn in runs:
        t = time.perf_counter()
        outcomes, failures = fn()
        dt = time.perf_counter() - t
        print(f"## {name}: {len(cases)} cases in {dt:.1f} s ({len(cases) / dt:.0f} cases/s), seed {args.seed}")
        for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]):
            print(f"  {v:7d}  {k}")
        for f in failures[:20]:
            print("  " + f)
        failed |= bool(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
