"""Side-by-side speed and memory of pycleora 3.2.1 and cleora_tensor (DESIGN section 12).

Generates seeded synthetic power-law user-item interactions as a TSV file, then
embeds the same file with pycleora and with cleora_tensor, each run in its own
process, runs alternating, and prints a table of graph-build, embed and total
wall time and peak RSS (from ``wait4``), with our/pycleora ratios.

Configurations:

* ``pycleora``: ``SparseMatrix.from_files(..., "user item")`` then
  ``pycleora.embed(graph, feature_dim=dim, num_iterations=iterations)``, i.e. its
  defaults: left Markov, PCA whitening every step.
* ``ours-same``: cleora_tensor doing the same work: ``preset="pycleora"``
  (PCA whitening every step, no early stop) with the hash initializer,
  ``iterations`` steps.
* ``ours-default``: cleora_tensor's default (classification) schedule, ZCA
  whitening once at the end, with early stopping off so that it also runs
  ``iterations`` steps.

Usage::

    python benchmarks/compare_pycleora.py --edges 1e6 1e7 --dim 256 --iterations 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import write_tsv  # noqa: E402

CONFIGS = ("pycleora", "ours-same", "ours-default")


def _child(config: str, path: str, dim: int, iterations: int, backend: str, device: str | None) -> dict:
    """Run one configuration in this process and return its timings."""
    start = time.perf_counter()
    if config == "pycleora":
        import pycleora

        graph = pycleora.SparseMatrix.from_files([path], "user item")
        built = time.perf_counter()
        vectors = pycleora.embed(graph, feature_dim=dim, num_iterations=iterations)
        entities = graph.num_entities
    else:
        import cleora_tensor as ct

        graph = ct.read_hypergraph(path, "user item").graph()
        built = time.perf_counter()
        preset = "pycleora" if config == "ours-same" else "classification"
        embed_config = ct.EmbedConfig.from_preset(
            preset, columns="user item", dim=dim, iterations=iterations, init="hash", tol=0
        )
        vectors = ct.embed_graph(graph, embed_config, backend=backend, device=device).vectors
        entities = graph.num_entities
    done = time.perf_counter()
    return {
        "entities": entities,
        "shape": list(vectors.shape),
        "build_s": built - start,
        "embed_s": done - built,
        "total_s": done - start,
    }


def _run(config: str, path: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", config, "--input", str(path),
               "--dim", str(args.dim), "--iterations", str(args.iterations), "--backend", args.backend]
    if args.device:
        command += ["--device", args.device]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{config} failed with status {status}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=float, nargs="+", default=[1e6], help="interaction counts (default: 1e6)")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1, help="alternating rounds per size")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--backend", default="scipy", help="cleora_tensor backend")
    parser.add_argument("--device", default=None, help="cleora_tensor device")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent / ".data")
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.input, args.dim, args.iterations, args.backend, args.device)))
        return

    args.data_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for edges in map(int, args.edges):
        path = args.data_dir / f"power_law_{edges}.tsv"
        if not path.exists():
            write_tsv(path, edges, seed=0)
        results: dict[str, list[dict]] = {c: [] for c in args.configs}
        for round_ in range(args.repeats):
            # Alternate the order between rounds so drift in machine load is shared.
            order = args.configs if round_ % 2 == 0 else args.configs[::-1]
            for config in order:
                result = _run(config, path, args)
                results[config].append(result)
                print(f"# {edges:.0e} edges, {config}: {json.dumps(result)}", file=sys.stderr, flush=True)
        base = _best(results.get("pycleora", []))
        for config in args.configs:
            best = _best(results[config])
            rows.append((edges, config, best, base))
    _print_table(rows, args)


def _best(runs: list[dict]) -> dict | None:
    """Per measure, the minimum over runs (the least disturbed run)."""
    if not runs:
        return None
    return {k: min(r[k] for r in runs) for k in ("build_s", "embed_s", "total_s", "peak_rss_mb")} | {
        "entities": runs[0]["entities"]
    }


def _print_table(rows: list, args: argparse.Namespace) -> None:
    print(f"dim {args.dim}, {args.iterations} iterations, backend {args.backend}, "
          f"{args.repeats} alternating round(s), threads: all ({os.cpu_count()} cores)")
    print("| edges | entities | config | build s | embed s | total s | peak RSS MB | total ratio | RSS ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for edges, config, best, base in rows:
        ratio = lambda key: f"{best[key] / base[key]:.2f}" if base else "-"  # noqa: E731
        print(f"| {edges:.0e} | {best['entities']:,} | {config} | {best['build_s']:.1f} | {best['embed_s']:.1f} | "
              f"{best['total_s']:.1f} | {best['peak_rss_mb']:.0f} | {ratio('total_s')} | {ratio('peak_rss_mb')} |")


if __name__ == "__main__":
    main()
