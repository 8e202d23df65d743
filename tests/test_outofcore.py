"""Out-of-core propagation: column slices on disk, bit-identical to the in-memory run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import cleora_tensor as ct
import cleora_tensor.outofcore_embed as outofcore_embed
from cleora_tensor.errors import InsufficientMemoryError
from cleora_tensor.memory import BASELINE_BYTES, propagation_bytes
from cleora_tensor.outofcore import ColumnFile, propagate_out_of_core
from cleora_tensor.outofcore_embed import embed_out_of_core

DATASETS = {
    "cora": ("cora/edges.tsv", "node node", 128),  # 4 slices of 32 columns
    "groceries": ("groceries/baskets.tsv", "transient::basket complex::reflexive::item", 96),  # 3, transient rows
}


def lines(n_edges: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_edges // 4, n_edges)
    items = (rng.pareto(1.2, n_edges) * 5).astype(int) % (n_edges // 8)
    return [f"u{u}\ti{i}" for u, i in zip(users, items)]


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("preset", ["classification", "pycleora", "retrieval"])
def test_out_of_core_equals_in_memory_bit_for_bit(tmp_path, data_file, name, preset):
    relative, spec, dim = DATASETS[name]
    graph = ct.read_hypergraph(data_file(relative), spec).graph()
    config = ct.EmbedConfig.from_preset(preset, columns=spec, dim=dim)
    expected = ct.embed_graph(graph, config, keep_state=False)
    got = embed_out_of_core(graph, config, tmp_path / "e.npy", slice_dim=32)
    assert isinstance(got.vectors, np.memmap) and got.vectors.flags.f_contiguous
    assert got.entity_ids == expected.entity_ids
    np.testing.assert_array_equal(got.types, expected.types)
    np.testing.assert_array_equal(got.occurrences, expected.occurrences)
    assert np.asarray(got.vectors).tobytes() == np.asarray(expected.vectors).tobytes()
    assert got.config == expected.config and got.state is None
    assert sorted(os.listdir(tmp_path)) == ["e.npy", "e.npy.entities.npz"]


def test_early_stop_takes_the_same_steps_in_every_slice(data_file, tmp_path):
    # Groceries stops early (tol 0.32) after 3 steps; so must every slice.
    graph = ct.read_hypergraph(data_file("groceries/baskets.tsv"), "transient::basket complex::reflexive::item").graph()
    config = ct.EmbedConfig(columns="transient::basket complex::reflexive::item", dim=64)
    in_memory = ct.propagate(ct.transition_matrix(graph), ct.initialize(graph.keys(), 64), iterations=15, tol=0.32,
                             whiten="zca", whiten_floor=config.whiten_floor, whiten_rows=np.flatnonzero(graph.output))
    with open(tmp_path / "v.npy", "w+b") as file:
        result = propagate_out_of_core(ct.transition_matrix(graph), graph.keys(), config,
                                       ColumnFile(file, graph.num_entities, 64), slice_dim=32,
                                       whiten_rows=np.flatnonzero(graph.output))
    assert (result.iterations, result.converged, result.slices) == (in_memory.iterations, True, 2)
    assert in_memory.iterations < 15
    stored = np.load(tmp_path / "v.npy")
    assert stored.tobytes() == np.ascontiguousarray(in_memory.vectors).tobytes()


def test_column_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3000, 70)).astype(np.float32)
    with open(tmp_path / "c.npy", "w+b") as file:
        columns = ColumnFile(file, 3000, 70)
        columns.write(0, 0, data[:, :32].copy())
        columns.write(0, 32, data[:, 32:].copy())
        np.testing.assert_array_equal(columns.read(100, 2100, 5, 40), data[100:2100, 5:40])
        columns.write(1000, 0, np.zeros((10, 70), np.float32))
    data[1000:1010] = 0
    loaded = np.load(tmp_path / "c.npy", mmap_mode="r")
    assert loaded.flags.f_contiguous
    np.testing.assert_array_equal(loaded, data)


def test_initialize_first_dim_gives_the_columns_of_a_wider_embedding():
    keys = ct.entity_keys([str(i) for i in range(500)], "n")
    for method in ("hash", "pycleora"):
        wide = ct.initialize(keys, 96, seed=5, method=method)
        parts = [ct.initialize(keys, 32, seed=5, method=method, first_dim=c) for c in (0, 32, 64)]
        assert np.hstack(parts).tobytes() == wide.tobytes()


def _fixed_resident(monkeypatch):
    monkeypatch.setattr(outofcore_embed, "resident_memory", lambda: BASELINE_BYTES)


def test_embed_goes_out_of_core_beyond_memory_limit(tmp_path, monkeypatch):
    _fixed_resident(monkeypatch)
    rows = lines(20_000)
    expected = ct.embed(iter(rows), columns="user item", dim=96, keep_state=False)
    graph = ct.read_hypergraph(iter(rows), "user item").graph()
    n, nnz = graph.num_entities, graph.nnz
    # Room for slices of 32 columns (3 slices), not for the in-memory run.
    limit = BASELINE_BYTES + propagation_bytes(n, nnz, 96, slice_dim=32) + 1
    assert limit < BASELINE_BYTES + propagation_bytes(n, nnz, 96)
    got = ct.embed(iter(rows), columns="user item", dim=96, memory_limit=limit, output=tmp_path / "big.npy")
    assert isinstance(got.vectors, np.memmap)
    assert np.asarray(got.vectors).tobytes() == np.asarray(expected.vectors).tobytes()
    loaded = ct.Embedding.load(tmp_path / "big.npy", mmap=True)
    assert loaded.most_similar("u1", top_k=3) == got.most_similar("u1", top_k=3)


def test_memory_limit_refusals(tmp_path, monkeypatch):
    _fixed_resident(monkeypatch)
    rows = lines(20_000)
    with pytest.raises(InsufficientMemoryError, match=r"out of core needs at least .*--memory-limit \d+M"):
        ct.embed(iter(rows), columns="user item", dim=96, memory_limit=BASELINE_BYTES + 1, output=tmp_path / "x.npy")
    with pytest.raises(ValueError, match=r"output=FILE\.npy"):
        ct.embed(iter(rows), columns="user item", dim=96, memory_limit=BASELINE_BYTES + 1, output=tmp_path / "x.npz")
    with pytest.raises(ValueError, match="does not support initial features"):
        ct.embed(iter(rows), columns="user item", dim=96, memory_limit=BASELINE_BYTES + 1,
                 initial={"u1": np.ones(96)}, output=tmp_path / "x.npy")
    assert os.listdir(tmp_path) == []


def test_whitening_every_step_with_early_stop_is_refused(tmp_path):
    graph = ct.read_hypergraph(iter(lines(2000)), "user item").graph()
    config = ct.EmbedConfig(columns="user item", dim=32, whiten_each_step=True, tol=0.1)
    with pytest.raises(ValueError, match="pass tol=0"):
        embed_out_of_core(graph, config, tmp_path / "e.npy", slice_dim=32)
    assert os.listdir(tmp_path) == []


def test_cli_refusal_names_memory_limit(tmp_path):
    data = tmp_path / "edges.tsv"
    data.write_text("\n".join(lines(2000)) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "cleora_tensor", "embed", str(data), "-c", "user item", "--memory-limit", "1M",
         "-o", str(tmp_path / "e.npy"), "-q"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2 and "--memory-limit" in out.stderr and "Traceback" not in out.stderr
    assert sorted(os.listdir(tmp_path)) == ["edges.tsv"]
    bad = subprocess.run([sys.executable, "-m", "cleora_tensor", "embed", str(data), "-c", "user item",
                          "--memory-limit", "lots"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--memory-limit" in bad.stderr


def test_killed_out_of_core_run_leaves_nothing(tmp_path, tmp_path_factory):
    data = tmp_path / "edges.tsv"
    data.write_text("\n".join(lines(200_000)) + "\n")
    log = tmp_path_factory.mktemp("log") / "stderr.txt"
    script = (
        "import sys, cleora_tensor.outofcore_embed as o\n"
        "o.plan_slices = lambda *a, **k: 32\n"  # force 8 slices whatever the machine's memory
        "import cleora_tensor.pipeline as p\np.plan_slices = o.plan_slices\n"
        "from cleora_tensor.cli import main\nsys.exit(main())\n"
    )
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", script, "embed", str(data), "-c", "user item", "-d", "256", "--iterations", "40",
             "--tol", "0", "-o", str(tmp_path / "e.npy"), "-q"],
            stderr=stderr,
        )
    try:
        # The output's temporary file exists from just before propagation starts.
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".e.npy.*.tmp")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143, log.read_text()
    finally:
        process.kill()
    assert sorted(os.listdir(tmp_path)) == ["edges.tsv"]


def test_npy_output_is_readable_by_numpy_and_similar(tmp_path, data_file):
    graph = ct.read_hypergraph(data_file("cora/edges.tsv"), "node node").graph()
    config = ct.EmbedConfig(columns="node node", dim=64)
    got = embed_out_of_core(graph, config, tmp_path / "cora.npy", slice_dim=32)
    plain = np.load(tmp_path / "cora.npy")
    assert plain.shape == (2708, 64) and plain.dtype == np.float32
    out = subprocess.run([sys.executable, "-m", "cleora_tensor", "similar", str(tmp_path / "cora.npy"), "35", "-k", "3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [line.split("\t")[1] for line in out.stdout.splitlines()] == [e for e, _ in got.most_similar("35", top_k=3)]
    Path(str(tmp_path / "cora.npy") + ".entities.npz").unlink()
    with pytest.raises(ct.InputFormatError, match="entities file cora.npy.entities.npz is missing"):
        ct.Embedding.load(tmp_path / "cora.npy")
