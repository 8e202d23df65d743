"""Time cleora_tensor on the SciPy, torch-CUDA and CuPy backends on one synthetic file.

Generates the seeded power-law user-item file of ``synthetic.py`` once, then, for
each preset (``default``: the classification schedule as shipped; ``pycleora``:
``preset="pycleora"``, the same work as pycleora 3.2.1) and each backend, embeds
it in a fresh process and prints one markdown table: graph-build, embed and total
wall time, peak host RSS (``wait4``), peak GPU memory, and the largest absolute
difference of the vectors from the SciPy run of the same preset (GPU results are
not bit-identical: float32 reductions run in another order).

* Each run is its own process. A GPU run first embeds a small warm-up file on
  the same device (CUDA context, cuBLAS/cuSPARSE handles, kernel compilation),
  then resets the peak-memory counters, then is timed; the clock is stopped
  after a device synchronize.
* Peak GPU memory: ``torch.cuda.max_memory_allocated()`` for torch; for CuPy
  the largest ``used_bytes()`` of the default memory pool, sampled at every
  allocation through a counting allocator (what CuPy's pool handed out, the
  analogue of torch's figure).
* Run order: the first preset's SciPy run, then the GPU runs, then the other
  SciPy runs (the slowest), so a deadline cuts CPU rows first; the table is
  in preset, backend order, and the differences are computed at the end.
* ``--deadline-s`` bounds the whole run: a run that would pass it is stopped,
  the runs after it are listed as not run, and the table is printed all the
  same (also on SIGTERM, e.g. from ``timeout``).

A backend that cannot run (no CUDA device, package missing) gives a row saying
why, and the exit status is 1; it never stops the other runs.

Usage::

    python benchmarks/gpu_bench.py --edges 1e7 --dim 256            # scipy, torch-CUDA, CuPy
    python benchmarks/gpu_bench.py --edges 1e5 --backends scipy     # CPU only
    python benchmarks/gpu_bench.py --pytest-report junit.xml        # summarize a pytest run (gpu_check.sh)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import write_tsv  # noqa: E402

BACKENDS = ("scipy", "torch", "cupy")
PRESETS = {"default": "classification", "pycleora": "pycleora"}
#: The device each backend is asked for.
DEVICES = {"scipy": "cpu", "torch": os.environ.get("CLEORA_GPU_BENCH_TORCH_DEVICE", "cuda"), "cupy": "cuda"}
# (CLEORA_GPU_BENCH_TORCH_DEVICE=cpu runs the torch rows on the CPU: a check of this
# script on a machine without a GPU, not a benchmark.)
WARMUP_EDGES = 20_000  # ~2,200 entities: more than any dim used here
#: Skips expected in the GPU test selection on a machine with CUDA: the test of
#: the error raised when CUDA is missing skips itself where CUDA is present.
EXPECTED_SKIPS = ("test_cuda_requested_without_cuda_is_a_one_line_value_error",)


class Stop(Exception):
    """SIGTERM: stop the current run and print what was measured."""


# --- the child: one backend, one preset, in its own process -----------------------------


def _gpu_probe(backend: str):
    """(synchronize, reset_peak, peak_bytes) for ``backend``'s device; ValueError without CUDA."""
    if backend == "torch" and DEVICES["torch"] != "cpu":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(
                f"no CUDA device: torch {torch.__version__} (built for CUDA {torch.version.cuda}) "
                "reports torch.cuda.is_available() False"
            )

        def reset():
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

        return torch.cuda.synchronize, reset, torch.cuda.max_memory_allocated
    if backend == "cupy":
        try:
            import cupy
        except ImportError as error:
            raise ValueError(f'CuPy not installed ({error}; pip install "cleora-tensor[cupy]")') from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError as error:
            raise ValueError(f"no CUDA device: CuPy cannot use CUDA ({error})") from None
        if count == 0:
            raise ValueError("no CUDA device: CuPy sees 0 CUDA devices")
        pool = cupy.get_default_memory_pool()
        peak = [0]

        def counting_malloc(size):
            memory = pool.malloc(size)
            used = pool.used_bytes()
            if used > peak[0]:
                peak[0] = used
            return memory

        cupy.cuda.set_allocator(counting_malloc)

        def reset():
            cupy.cuda.Device().synchronize()
            pool.free_all_blocks()
            peak[0] = pool.used_bytes()

        return (lambda: cupy.cuda.Device().synchronize()), reset, (lambda: peak[0])
    return (lambda: None), (lambda: None), (lambda: None)


def _to_numpy(vectors):
    import numpy as np

    if hasattr(vectors, "detach"):  # torch
        return vectors.detach().cpu().numpy()
    if type(vectors).__module__.startswith("cupy"):
        import cupy

        return cupy.asnumpy(vectors)
    return np.asarray(vectors)


def _child(args: argparse.Namespace) -> dict:
    backend, preset = args.child
    device = DEVICES[backend]
    synchronize, reset_peak, peak_bytes = _gpu_probe(backend)  # ValueError without CUDA

    import numpy as np
    import xxhash

    import cleora_tensor as ct

    config = ct.EmbedConfig.from_preset(PRESETS[preset], columns="user item", dim=args.dim)
    warmup_s = 0.0
    if backend != "scipy" and device != "cpu":
        start = time.perf_counter()
        small = ct.read_hypergraph(str(args.warmup), "user item").graph()
        ct.embed_graph(small, config, backend=backend, device=device)
        synchronize()
        warmup_s = time.perf_counter() - start
        del small
        reset_peak()

    start = time.perf_counter()
    graph = ct.read_hypergraph(str(args.input), "user item").graph()
    built = time.perf_counter()
    embedding = ct.embed_graph(graph, config, backend=backend, device=device)
    synchronize()
    done = time.perf_counter()
    peak = peak_bytes()

    vectors = _to_numpy(embedding.vectors)
    np.save(args.vectors, vectors, allow_pickle=False)
    return {
        "entities": len(embedding.entity_ids),
        "shape": list(vectors.shape),
        "ids_xxh64": xxhash.xxh64("\n".join(embedding.entity_ids).encode()).hexdigest(),
        "warmup_s": warmup_s,
        "build_s": built - start,
        "embed_s": done - built,
        "total_s": done - start,
        "gpu_peak_mb": None if peak is None else peak / 2**20,
    }


# --- the parent: runs, deadline, table --------------------------------------------------


def _run(backend: str, preset: str, files: dict, args: argparse.Namespace, deadline: float) -> dict:
    """One child process; its JSON result plus peak RSS, or ``{"error": ...}``."""
    vectors = files["work"] / f"vectors_{backend}_{preset}.npy"
    result_path = files["work"] / f"result_{backend}_{preset}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--child", backend, preset, "--input", str(files["input"]),
               "--warmup", str(files["warmup"]), "--vectors", str(vectors), "--result", str(result_path),
               "--dim", str(args.dim)]
    process = subprocess.Popen(command)
    try:
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                return {"error": f"stopped at the deadline (--deadline-s {args.deadline_s:g})"}
            time.sleep(0.05)
    except Stop:
        process.kill()
        os.wait4(process.pid, 0)
        raise
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped; keeps Popen quiet
    if not result_path.exists():
        return {"error": f"child exited with status {os.waitstatus_to_exitcode(status)} and no result"}
    result = json.loads(result_path.read_text())
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["vectors"] = str(vectors)
    return result


def _max_abs_diff(path: str, reference: str) -> float:
    """max |a - b| of two saved (n, d) arrays, in row blocks (memory-mapped)."""
    import numpy as np

    a = np.load(path, mmap_mode="r")
    b = np.load(reference, mmap_mode="r")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    worst = 0.0
    for start in range(0, a.shape[0], 1 << 16):
        block_a = np.asarray(a[start : start + (1 << 16)], dtype=np.float64)
        block_b = np.asarray(b[start : start + (1 << 16)], dtype=np.float64)
        if block_a.size:
            worst = max(worst, float(np.max(np.abs(block_a - block_b))))  # NaN propagates
        if worst != worst:
            return worst
    return worst


def _diff_cell(result: dict, reference: dict | None) -> str:
    if "error" in result:
        return "-"
    if reference is None or "error" in reference:
        return "no scipy reference"
    if result is reference:
        return "0 (reference)"
    if result["ids_xxh64"] != reference["ids_xxh64"]:
        return "entity order differs"
    try:
        return f"{_max_abs_diff(result['vectors'], reference['vectors']):.2e}"
    except ValueError as error:
        return str(error)


def _cell(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_table(rows: list, args: argparse.Namespace, entities: int | None) -> None:
    edges = f"{args.edges:.0e}".replace("e+0", "e").replace("e+", "e")
    size = f", {entities:,} entities" if entities is not None else ""
    print(f"\n{edges} edges{size}, dim {args.dim}, threads: all ({os.cpu_count()} cores); "
          f"GPU runs timed after a warm-up embed on the same device\n")
    print("| backend | device | preset | build s | embed s | total s | peak host RSS MB | peak GPU MB "
          "| max abs diff vs scipy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for backend, preset, result, diff in rows:
        if "error" in result:
            print(f"| {backend} | {DEVICES[backend]} | {preset} | {result['error']} | - | - | - | - | - |")
            continue
        print(f"| {backend} | {DEVICES[backend]} | {preset} | {_cell(result['build_s'])} | {_cell(result['embed_s'])} "
              f"| {_cell(result['total_s'])} | {_cell(result['peak_rss_mb'], 0)} | {_cell(result['gpu_peak_mb'], 0)} "
              f"| {diff} |")
    print(flush=True)


def _bench(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.deadline_s if args.deadline_s else float("inf")

    def on_term(signum, frame):
        raise Stop

    signal.signal(signal.SIGTERM, on_term)
    owned = None
    if args.work_dir is None:
        owned = tempfile.TemporaryDirectory(prefix="cleora_gpu_bench_")
        args.work_dir = Path(owned.name)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    edges = int(args.edges)
    files = {
        "work": args.work_dir,
        "input": args.work_dir / f"power_law_{edges}.tsv",
        "warmup": args.work_dir / f"power_law_{WARMUP_EDGES}.tsv",
    }
    table = [(backend, preset) for preset in args.presets for backend in args.backends]
    # Run order: the first preset's scipy reference, then every GPU run, then the
    # other scipy runs (the slowest, with the pycleora preset): when the deadline
    # cuts the list short, it cuts the CPU rows, not the GPU ones.
    scipy_runs = [key for key in table if key[0] == "scipy"]
    plan = scipy_runs[:1] + [key for key in table if key[0] != "scipy"] + scipy_runs[1:]
    results: dict[tuple, dict] = {}
    entities = None
    try:
        for key in ("input", "warmup"):
            if not files[key].exists():
                start = time.perf_counter()
                write_tsv(files[key], edges if key == "input" else WARMUP_EDGES, seed=0)
                print(f"# wrote {files[key]} in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        for backend, preset in plan:
            if time.monotonic() > deadline:
                results[backend, preset] = {"error": "not run: deadline reached"}
                continue
            print(f"# {backend} ({DEVICES[backend]}), preset {preset} ...", file=sys.stderr, flush=True)
            result = _run(backend, preset, files, args, deadline)
            results[backend, preset] = result
            entities = result.get("entities", entities)
            shown = {k: v for k, v in result.items() if k != "vectors"}
            print(f"# {backend} {preset}: {json.dumps(shown)}", file=sys.stderr, flush=True)
    except (Stop, KeyboardInterrupt):
        print("# stopped (signal): printing what was measured", file=sys.stderr, flush=True)
    rows = []
    for backend, preset in table:
        result = results.get((backend, preset), {"error": "not run: stopped"})
        diff = _diff_cell(result, results.get(("scipy", preset)))
        rows.append((backend, preset, result, diff))
    _print_table(rows, args, entities)
    if owned is not None:
        owned.cleanup()
    else:
        for path in args.work_dir.glob("vectors_*.npy"):
            path.unlink()
    return 1 if any("error" in r for _, _, r, _ in rows) else 0


# --- pytest summary (for gpu_check.sh) --------------------------------------------------


def _pytest_report(path: Path) -> int:
    """Print pass/fail/skip counts of a pytest JUnit XML file; 1 on a failure or an unexpected skip."""
    import xml.etree.ElementTree as ET

    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    unexpected = []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                if child.tag == "skipped" and not case.get("name", "").startswith(EXPECTED_SKIPS):
                    unexpected.append(f"{name}: {child.get('message')}")
                break
        counts[outcome] += 1
    print(f"GPU tests: {counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
          f"{counts['skipped']} skipped, of which {counts['skipped'] - len(unexpected)} expected "
          "(the test of the no-CUDA error skips where CUDA is present)")
    for line in unexpected:
        print(f"  UNEXPECTED SKIP {line}")
    return 1 if counts["failed"] or counts["error"] or unexpected or not counts["passed"] else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=float, default=1e7, help="interactions in the synthetic file (default 1e7)")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                        help="scipy runs on the CPU; torch and cupy on CUDA (default: all three)")
    parser.add_argument("--presets", nargs="+", choices=tuple(PRESETS), default=list(PRESETS),
                        help="default: the classification schedule; pycleora: preset='pycleora' (default: both)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the synthetic files and vectors go (default: a temporary directory, removed)")
    parser.add_argument("--deadline-s", type=float, default=None, help="stop runs after this many seconds")
    parser.add_argument("--pytest-report", type=Path, metavar="JUNIT_XML",
                        help="only summarize this pytest --junitxml file (pass/skip counts)")
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "PRESET"), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pytest_report:
        return _pytest_report(args.pytest_report)
    if args.child:
        try:
            result = _child(args)
        except (ValueError, ImportError) as error:  # no CUDA device, package missing: one line
            result = {"error": " ".join(str(error).split())[:300]}
            print(f"# {args.child[0]}: {result['error']}", file=sys.stderr)
        except Exception as error:  # e.g. a CUDA library CuPy cannot find: a row, and the traceback
            import traceback

            traceback.print_exc()
            result = {"error": f"{type(error).__name__}: {' '.join(str(error).split())[:240]}"}
        args.result.write_text(json.dumps(result))
        return 0 if "error" not in result else 3
    return _bench(args)


if __name__ == "__main__":
    sys.exit(main())
