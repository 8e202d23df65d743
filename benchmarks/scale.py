"""The cost curve of ``cleora-tensor embed`` in memory and out of core.

For each size, writes a seeded synthetic power-law user-item file
(``synthetic.py``; kept in ``--workdir`` between runs), asks ``cleora-tensor info``
for its estimates, and runs the real command line in a child process::

    cleora-tensor embed FILE --columns "user item" --dim D --tol 0 -o OUT

in memory (``-o OUT.npz``, when ``--no-in-memory`` is not given) and out of core
(``--memory-limit LIMIT -o OUT.npy``), printing a Markdown table of wall time,
time per propagation step (from the progress bar: the default schedule, 15
steps, with the early stop off so that every size runs the same steps), peak
RSS (``wait4``) and the estimate. Outputs are deleted after each run; free disk
is checked first.

Usage::

    python benchmarks/scale.py --edges 1e6 1e7 --limits 300M 2G --dim 256
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import write_tsv  # noqa: E402

STEPS = 15


def _run(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS bytes and stderr of a child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr}")
    return wall, usage.ru_maxrss * 1024, stderr


def _propagation_seconds(stderr: str) -> float | None:
    """Elapsed time of the last ``propagate`` progress bar (tqdm's ``[MM:SS<``)."""
    found = re.findall(r"propagate: 100%.*?\[(\d+):(\d+)(?::(\d+))?<", stderr)
    if not found:
        return None
    parts = [int(p) for p in found[-1] if p]
    return float(parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) == 3 else 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", nargs="+", type=float, default=[1e6, 1e7])
    parser.add_argument("--limits", nargs="+", required=True, help="one --memory-limit per size, e.g. 300M 2G")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=Path("scale_work"))
    parser.add_argument("--no-in-memory", action="store_true", help="only the out-of-core runs")
    args = parser.parse_args()
    if len(args.limits) != len(args.edges):
        parser.error("give one --limits value per --edges value")
    args.workdir.mkdir(exist_ok=True)
    cli = [sys.executable, "-m", "cleora_tensor"]
    rows = []
    for edges, limit in zip(args.edges, args.limits):
        data = args.workdir / f"synthetic_{edges:.0e}.tsv"
        if not data.exists():
            write_tsv(data, int(edges))
        common = [str(data), "--columns", "user item", "--dim", str(args.dim)]
        info = json.loads(subprocess.run([*cli, "info", *common, "--memory-limit", limit, "--json"],
                                         capture_output=True, text=True, check=True).stdout)
        entities = info["graphs"][0]["entities"]
        need = 4 * entities * args.dim * 2 + data.stat().st_size
        free = shutil.disk_usage(args.workdir).free
        if free < need:
            raise SystemExit(f"{edges:.0e}: needs about {need / 2**30:.1f} GiB of disk, {free / 2**30:.1f} GiB free")
        runs = [] if args.no_in_memory else [("in memory", [], "out.npz", info["estimated_peak_memory_bytes"])]
        runs.append((f"out of core, {limit}", ["--memory-limit", limit], "out.npy",
                     info["estimated_out_of_core_peak_memory_bytes"]))
        for mode, extra, name, estimate in runs:
            output = args.workdir / name
            wall, peak, stderr = _run([*cli, "embed", *common, "--tol", "0", "--iterations", str(STEPS), *extra, "-o", str(output)])
            for leftover in (output, Path(f"{output}.entities.npz")):
                leftover.unlink(missing_ok=True)
            propagation = _propagation_seconds(stderr)
            row = {
                "edges": f"{edges:.0e}", "entities": entities, "nnz": info["graphs"][0]["nnz"], "mode": mode,
                "wall_s": round(wall, 1), "step_s": None if propagation is None else round(propagation / STEPS, 2),
                "peak_rss_mb": round(peak / 2**20), "estimate_mb": round(estimate / 2**20),
                "estimate_ratio": round(estimate / peak, 2), "info_mode": info["mode"],
            }
            print("#", json.dumps(row), flush=True)
            rows.append(row)
    print(f"dim {args.dim}, {STEPS} steps (early stop off), threads: all ({os.cpu_count()} cores)")
    print("| edges | entities | non-zeros | mode | wall s | s/step | peak RSS MB | estimate MB | estimate/peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['edges']} | {r['entities']:,} | {r['nnz']:,} | {r['mode']} | {r['wall_s']} | {r['step_s']} "
              f"| {r['peak_rss_mb']:,} | {r['estimate_mb']:,} | {r['estimate_ratio']} |")


if __name__ == "__main__":
    main()
