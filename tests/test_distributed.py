"""Distributed propagation: gloo ranks on 127.0.0.1, bit-identical to one process.

Each test starts its ranks as separate processes with the environment torchrun
sets (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``), bounded by
timeouts; skipped without torch.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cleora_tensor as ct

torch = pytest.importorskip("torch", reason='torch not installed (pip install "cleora-tensor[torch]")')
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("this torch build has no gloo backend", allow_module_level=True)

TIMEOUT = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Run one command per rank at once, with the torchrun environment."""
    port = free_port()
    processes = []
    for rank, command in enumerate(commands):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                   WORLD_SIZE=str(len(commands)), LOCAL_RANK=str(rank))
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=TIMEOUT)
            results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    finally:
        for process in processes:
            process.kill()
    return results


def embed_command(data: Path, output: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "cleora_tensor", "embed", str(data), "--columns", "user item", "--distributed",
            "--distributed-timeout", "60", "--threads", "1", "-q", "-o", str(output), *options]


@pytest.fixture(scope="module")
def interactions(tmp_path_factory) -> Path:
    # 22 k entities: several 4096-row blocks per rank, and whitening blocks of
    # 16384 rows that cross rank boundaries.
    rng = np.random.default_rng(0)
    users = rng.integers(0, 20_000, 150_000)
    items = (rng.pareto(1.0, 150_000) * 20).astype(int) % 2_000
    path = tmp_path_factory.mktemp("data") / "interactions.tsv"
    path.write_text("".join(f"u{u}\ti{i}\n" for u, i in zip(users, items)))
    return path


@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("preset", ["classification", "pycleora"])
def test_ranks_equal_one_process_bit_for_bit(tmp_path, interactions, ranks, preset):
    single = ct.embed(str(interactions), columns="user item", preset=preset, keep_state=False)
    output = tmp_path / "out.npy"
    results = launch([embed_command(interactions, output, "--preset", preset) for _ in range(ranks)])
    assert [r.returncode for r in results] == [0] * ranks, [r.stderr for r in results]
    got = ct.Embedding.load(output)
    assert got.entity_ids == single.entity_ids
    assert np.asarray(got.vectors).tobytes() == np.asarray(single.vectors).tobytes()
    assert sorted(os.listdir(tmp_path)) == ["out.npy", "out.npy.entities.npz"]


def test_transient_rows_and_python_api_in_a_process_group(tmp_path, data_file):
    baskets = data_file("movielens_100k/baskets.tsv")
    spec = "transient::user complex::reflexive::item"
    single = ct.embed(str(baskets), columns=spec, keep_state=False)
    script = (
        "import sys, torch.distributed as dist, cleora_tensor as ct\n"
        "dist.init_process_group('gloo')\n"
        f"e = ct.embed({str(baskets)!r}, columns={spec!r}, distributed=True, output=sys.argv[1], threads=1)\n"
        "print(len(e))\n"
        "dist.destroy_process_group()\n"
    )
    results = launch([[sys.executable, "-c", script, str(tmp_path / "m.npy")] for _ in range(2)])
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert [r.stdout.strip() for r in results] == [str(len(single))] * 2
    got = ct.Embedding.load(tmp_path / "m.npy")
    assert np.asarray(got.vectors).tobytes() == np.asarray(single.vectors).tobytes()


def test_bad_input_on_one_rank_stops_every_rank(tmp_path, interactions):
    missing = tmp_path / "missing.tsv"
    output = tmp_path / "out.npy"
    results = launch([embed_command(interactions, output), embed_command(missing, output)])
    assert [r.returncode for r in results] == [2, 2]
    for result in results:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cleora-tensor: error:") and "Traceback" not in result.stderr
    assert "missing.tsv" in results[1].stderr and "rank 1 failed" in results[0].stderr
    assert sorted(os.listdir(tmp_path)) == []


def test_distributed_needs_an_npy_output(tmp_path, interactions):
    with pytest.raises(ValueError, match="distributed=True needs output=FILE.npy"):
        ct.embed(str(interactions), columns="user item", distributed=True)
