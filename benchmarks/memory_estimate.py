"""``info``'s memory estimate against the measured peak of ``embed``, on ../shared/data.

For every input, with default options: ``cleora-tensor info --json`` gives the
estimate (``estimated_peak_memory_bytes``), and ``cleora-tensor embed`` runs in a
child process whose peak resident set size (``ru_maxrss`` from ``wait4``, what
``/usr/bin/time -f %M`` prints) is the measurement. This process stays small (no
NumPy; inputs are written by child processes), as a child's ``ru_maxrss`` starts
from the pages it shares with its parent when forked. Prints the README table::

    python benchmarks/memory_estimate.py [--data ../shared/data] [--synthetic 1e6 1e7] [--cliques]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

BASKETS = "transient::basket complex::reflexive::item"
DATA_SETS = [
    ("cora", "edges.tsv", "node node"),
    ("citeseer", "edges.tsv", "node node"),
    ("blogcatalog", "edges.tsv", "node node"),
    ("ego_facebook", "edges.tsv", "node node"),
    ("ego_twitter", "edges.tsv.gz", "node node"),
    ("groceries", "baskets.tsv", BASKETS),
    ("movielens_100k", "baskets.tsv", "transient::user complex::reflexive::item"),
]
CLI = [sys.executable, "-m", "cleora_tensor"]


def peak_bytes(command: list[str]) -> int:
    """Run ``command``; its peak resident set size in bytes (fails on a non-zero exit)."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} exited with {child.returncode}")
    return usage.ru_maxrss * 1024  # KiB on Linux


def measure(path: Path, spec: str, workdir: Path) -> tuple[int, int]:
    """(estimated bytes, measured peak bytes) of embedding ``path`` with default options."""
    info = subprocess.run([*CLI, "info", str(path), "-c", spec, "--json"], capture_output=True, text=True, check=True)
    estimate = json.loads(info.stdout)["estimated_peak_memory_bytes"]
    return estimate, peak_bytes([*CLI, "embed", str(path), "-c", spec, "-q", "-o", str(workdir / "out.npz")])


def write_synthetic(path: Path, edges: int) -> Path:
    """The power-law user-item file of ``synthetic.py``, written by a child process."""
    subprocess.run([sys.executable, str(Path(__file__).with_name("synthetic.py")), str(path), "--edges", str(edges)],
                   check=True)
    return path


def write_cliques(path: Path) -> Path:
    """200 baskets of 1,000 ids drawn (seeded) from 20,000 items: 2e8 clique pairs."""
    draw = random.Random(0).randrange
    with open(path, "w", encoding="utf-8") as handle:
        for basket in range(200):
            handle.write(f"b{basket}\t" + " ".join(f"i{draw(20_000)}" for _ in range(1000)) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--synthetic", type=float, nargs="*", default=[], metavar="EDGES",
                        help="also synthetic power-law user-item files of this many edges (synthetic.py)")
    parser.add_argument("--cliques", action="store_true", help="also 200 baskets of 1,000 ids from 20,000 items")
    args = parser.parse_args()
    print("| data set | columns | estimate MB | measured peak MB | ratio |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        inputs = [(name, args.data / name / file, spec) for name, file, spec in DATA_SETS]
        inputs += [
            (f"synthetic, {edges:.0e} edges", write_synthetic(workdir / f"synthetic_{edges:.0e}.tsv", int(edges)), "user item")
            for edges in args.synthetic
        ]
        if args.cliques:
            inputs.append(("200 baskets x 1,000 of 20,000 items", write_cliques(workdir / "cliques.tsv"), BASKETS))
        for label, path, spec in inputs:
            if not path.exists():
                print(f"| {label} | `{spec}` | (missing: {path}) | | |")
                continue
            estimate, measured = measure(path, spec, workdir)
            print(f"| {label} | `{spec}` | {estimate / 1e6:.0f} | {measured / 1e6:.0f} | {estimate / measured:.2f} |")


if __name__ == "__main__":
    main()
