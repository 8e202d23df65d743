"""Memory: chunked expansion, the peak estimate, and the refusal before building."""

import json
import tracemalloc

import numpy as np
import pytest
import scipy.sparse

import cleora_tensor.expansion as expansion
import cleora_tensor.csr as csr
import cleora_tensor.memory as memory
from cleora_tensor import estimate_memory, markov_matrix, read_hypergraph, transition_matrix
from cleora_tensor.cli import main
from cleora_tensor.errors import InsufficientMemoryError
from cleora_tensor.memory import BASELINE_BYTES, available_memory

MIB = 1 << 20


def run(capsys, *argv):
    try:
        status = main(list(map(str, argv)))
    except SystemExit as stop:  # argparse rejected an option
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(err):
    return err.count("\n") == 1 and err.startswith("cleora-tensor: error: ") and "Traceback" not in err


def bits(matrix):
    """Everything that makes two CSR matrices bit-identical."""
    return (matrix.indptr.tolist(), matrix.indices.tolist(), matrix.data.tobytes(), matrix.data.dtype)


# ----------------------------------------------------------------- pair counts


@pytest.mark.filterwarnings("ignore::cleora_tensor.DataWarning")
@pytest.mark.parametrize(
    ("lines", "spec", "options", "pairs"),
    [
        # user x item, 1 x 3 pairs, stored both ways.
        (["u\ta b c"], "user complex::item", {}, 2 * 3),
        # A reflexive cell of 3 ids: 3 x 3 ordered pairs (self pairs included), stored once.
        (["a b c"], "complex::reflexive::item", {}, 3 * 3),
        # basket x item: 2 * (3 + 2); item x item: 3^2 + 2^2.
        (["b1\ta b c", "b2\ta d"], "transient::basket complex::reflexive::item", {}, 2 * 5 + 13),
        # The clique guard cuts the 5-id cell to 2 ids: 2 x 2.
        (["a b c d e"], "complex::reflexive::item", {"max_cell_size": 2}, 4),
        # Cells of 2, 3, 1, 1 ids; six relations: 2x3, 2x1, 2x1, 3x1, 3x1, 1x1, both ways.
        (["a b\tx y z\tp\tq"], "complex::left complex::right plain other", {}, 2 * (6 + 2 + 2 + 3 + 3 + 1)),
    ],
)
def test_graph_counts_expanded_pairs(lines, spec, options, pairs):
    assert read_hypergraph(iter(lines), spec).graph(**options).pairs == pairs


# ------------------------------------------------------- chunked == one shot


def random_lines(seed=0, rows=300):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        items = " ".join(f"i{x}" for x in rng.integers(0, 150, rng.integers(1, 40)))
        users = " ".join(f"u{x}" for x in rng.integers(0, 30, rng.integers(0, 4)))
        lines.append(f"{users}\t{items}\ts{rng.integers(0, 5)}\t{rng.random() * 3:.4f}")
    return lines


SPEC = "complex::user complex::reflexive::item store weight::w"


@pytest.mark.parametrize("chunk", [1, 64, 5000])
def test_chunked_expansion_equals_one_shot_bit_for_bit(monkeypatch, chunk):
    hypergraph = read_hypergraph(iter(random_lines()), SPEC)
    whole = hypergraph.graph(max_cell_size=None)
    assert whole.pairs > 20 * 5000  # several chunks even at the largest size tried
    monkeypatch.setattr(expansion, "CHUNK_ENTRIES", chunk)
    chunked = hypergraph.graph(max_cell_size=None)
    assert chunked.pairs == whole.pairs
    assert bits(chunked.adjacency) == bits(whole.adjacency)
    # float64 row sums may differ in the last bits (other summation order) ...
    np.testing.assert_allclose(chunked.degrees, whole.degrees, rtol=1e-13)
    # ... but not the float32 transition matrices.
    for kind in ("left", "symmetric"):
        assert bits(transition_matrix(chunked, kind)) == bits(transition_matrix(whole, kind))


def test_graph_memory_follows_nonzeros_not_pairs(monkeypatch):
    # 200 baskets of the same 100 items: 2,000,000 clique pairs, 10,000 non-zeros.
    lines = [" ".join(f"i{k}" for k in range(100))] * 200
    hypergraph = read_hypergraph(iter(lines), "complex::reflexive::item")
    monkeypatch.setattr(expansion, "CHUNK_ENTRIES", 1 << 14)
    tracemalloc.start()
    try:
        graph = hypergraph.graph()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (graph.pairs, graph.nnz) == (2_000_000, 10_000)
    # The pairs' COO arrays alone (int32, int32, float64) would take 32 MB.
    assert peak < 4 * MIB
    np.testing.assert_allclose(graph.adjacency.toarray(), np.full((100, 100), 2 / 100**2 * 200), rtol=1e-6)


def test_markov_blocks_do_not_change_the_result(monkeypatch):
    w = scipy.sparse.random(60, 60, density=0.2, random_state=3, format="csr")
    w = scipy.sparse.csr_array(w + w.T)
    expected = {kind: bits(markov_matrix(w, kind=kind)) for kind in ("left", "symmetric")}
    monkeypatch.setattr(csr, "_BLOCK_NNZ", 7)
    for kind in ("left", "symmetric"):
        assert bits(markov_matrix(w, kind=kind)) == expected[kind]
    np.testing.assert_allclose(csr.row_sums(w), w.sum(axis=1), rtol=1e-12)


# -------------------------------------------------------------------- estimate


BASE = dict(n_entities=10_000, nnz=1_000_000, dim=64, threads=2, pairs=1_000_000, input_ids=500_000)


@pytest.mark.parametrize("name", ["n_entities", "nnz", "dim", "pairs", "input_ids"])
def test_estimate_grows_with_every_count(name):
    values = [BASE[name] * f for f in (1, 2, 10, 100)]
    estimates = [estimate_memory(**{**BASE, name: v}) for v in values]
    assert all(a <= b for a, b in zip(estimates, estimates[1:]))
    assert estimates[-1] > estimates[0]


def test_estimate_includes_graph_building():
    # MovieLens-like baskets: 20 M clique pairs summed into 2.2 M non-zeros.
    counts = dict(n_entities=2625, nnz=2_168_094, threads=1, pairs=20_400_000, input_ids=100_943, output_entities=1682)
    for dim in (0, 256):
        # Building holds at least the float64 sum (12 bytes per non-zero) and the
        # float32 graph (8 bytes) at once, on top of the process baseline; the
        # 2625 x 256 propagation buffers are 5 MB.
        assert estimate_memory(**counts, dim=dim) >= BASELINE_BYTES + 20 * counts["nnz"]


def test_info_total_in_pairwise_mode_adds_the_graphs_above_one_baseline(tmp_path, capsys):
    source = tmp_path / "s.tsv"
    source.write_text("u1\ti1\ts1\nu2\ti1\ts2\nu2\ti2\ts1\n")
    status, out, _ = run(capsys, "info", source, "-c", "user item store", "--relations", "pairwise", "--json")
    report = json.loads(out)
    each = [g["estimated_peak_memory_bytes"] for g in report["graphs"]]
    assert status == 0 and len(each) == 3
    assert report["estimated_peak_memory_bytes"] == BASELINE_BYTES + sum(e - BASELINE_BYTES for e in each)
    assert report["estimated_peak_memory_bytes"] > max(each)


def test_estimate_rejects_negative_counts():
    with pytest.raises(ValueError, match="non-negative"):
        estimate_memory(-1, 10, 8)


def test_info_reports_the_estimate_of_the_whole_run(tmp_path, capsys):
    source = tmp_path / "b.tsv"
    source.write_text("b1\ta b c\nb2\ta d\n")
    spec = "transient::basket complex::reflexive::item"
    status, out, _ = run(capsys, "info", source, "-c", spec, "--json", "--threads", 1)
    report = json.loads(out)
    (graph,) = report["graphs"]
    assert status == 0 and graph["pairs"] == 23
    assert report["estimated_peak_memory_bytes"] == graph["estimated_peak_memory_bytes"]
    assert graph["estimated_peak_memory_bytes"] == estimate_memory(
        graph["entities"], graph["nnz"], report["dim"], threads=1, pairs=23, input_ids=7, output_entities=4
    )


@pytest.mark.parametrize(("option", "value"), [("--dim", 0), ("--dim", -5), ("--threads", 0)])
def test_info_rejects_a_bad_dim_or_thread_count(tmp_path, capsys, option, value):
    source = tmp_path / "g.tsv"
    source.write_text("a\tb\n")
    status, out, err = run(capsys, "info", source, "-c", "node node", option, value)
    assert status == 2 and out == "" and err.count("\n") == 1 and option in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [source]


# --------------------------------------------------------------------- refusal


@pytest.fixture
def little_memory(monkeypatch):
    """The process holds its baseline plus 12 MiB, and 20 MiB more are available."""
    monkeypatch.setattr(memory, "resident_memory", lambda: BASELINE_BYTES + 12 * MIB)
    monkeypatch.setattr(memory, "available_memory", lambda: 20 * MIB)


@pytest.mark.parametrize("command", [["info"], ["embed", "-q", "-d", "4"]])
def test_refusal_names_the_cell_size_that_fits(tmp_path, capsys, little_memory, command):
    # One basket of 3,000 items: 1024^2 pairs under the default guard, ~50 MB to build.
    source = tmp_path / "big.tsv"
    source.write_text(" ".join(f"i{k}" for k in range(3000)) + "\n")
    output = ["-o", tmp_path / "out.npz"] if command[0] == "embed" else []
    status, out, err = run(capsys, *command, source, "-c", "complex::reflexive::item", *output)
    assert status == 2 and out == "" and one_line_error(err)
    assert "big.tsv" in err and "1,048,576 expanded pairs" in err and "--max-cell-size " in err
    size = int(err.split("--max-cell-size ")[1].split(")")[0])
    assert 1 < size < 1024
    assert list(tmp_path.iterdir()) == [source]
    # Following the advice works (with a margin: twice the size is refused).
    status, out, err = run(capsys, *command, source, "-c", "complex::reflexive::item", "--max-cell-size", size, *output)
    assert status == 0 and "clique guard" in err
    status, _, err = run(capsys, "info", source, "-c", "complex::reflexive::item", "--max-cell-size", 2 * size)
    assert status == 2 and one_line_error(err)


def test_refusal_without_a_guard_to_lower_says_so(monkeypatch):
    monkeypatch.setattr(memory, "resident_memory", lambda: BASELINE_BYTES)
    monkeypatch.setattr(memory, "available_memory", lambda: 0)
    hypergraph = read_hypergraph(iter(["a\tb", "b\tc"]), "node node")
    with pytest.raises(InsufficientMemoryError, match="<lines>: building the graph .* transient::"):
        hypergraph.graph()


def test_no_check_where_the_system_does_not_say(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    assert read_hypergraph(iter(["a\tb"]), "node node").graph().nnz == 2


def test_available_memory_takes_the_smaller_of_meminfo_and_cgroup(monkeypatch):
    files = {
        "/proc/meminfo": "MemTotal: 9000 kB\nMemAvailable: 1000 kB\n",
        "/proc/self/cgroup": "0::/job\n",
        "/sys/fs/cgroup/job/memory.max": "4096\n",
        "/sys/fs/cgroup/job/memory.current": "1024\n",
    }
    monkeypatch.setattr(memory, "_read", lambda path: files.get(str(path)))
    assert available_memory() == 3072
    files["/sys/fs/cgroup/job/memory.max"] = "max\n"
    assert available_memory() == 1000 * 1024
    files.clear()
    assert available_memory() is None


def test_propagation_refusal_names_the_dimension_that_fits(tmp_path, capsys, monkeypatch):
    # The graph fits; its (n, dim) vectors at dim 4096 do not.
    source = tmp_path / "edges.tsv"
    source.write_text("".join(f"a{k}\tb{k % 50}\n" for k in range(2000)))
    monkeypatch.setattr(memory, "resident_memory", lambda: BASELINE_BYTES + 12 * MIB)
    monkeypatch.setattr(memory, "available_memory", lambda: 40 * MIB)
    output = tmp_path / "out.npz"
    status, out, err = run(capsys, "embed", "-q", source, "-c", "node node", "-d", 4096, "-o", output)
    assert status == 2 and out == "" and one_line_error(err)
    assert "propagating 2,050 entities at dim 4096" in err and "--dim " in err
    dim = int(err.split("--dim ")[1].split(")")[0])
    assert 1 <= dim < 4096
    assert list(tmp_path.iterdir()) == [source]
    status, _, err = run(capsys, "embed", "-q", source, "-c", "node node", "-d", dim, "-o", output)
    assert status == 0 and output.exists()


def test_multiscale_snapshots_are_counted_in_memory_not_out_of_core():
    # With 3 snapshots the run ends holding 12 (n, dim) float32 arrays, not 2:
    # the snapshots, the step inputs kept for embed_new, and both concatenated.
    n, nnz, dim = 100_000, 1_000_000, 512
    base = estimate_memory(n, nnz, dim, threads=1)
    assert estimate_memory(n, nnz, dim, threads=1, scales=3) - base == (12 - 2) * 4 * dim * n
    assert estimate_memory(n, nnz, dim, threads=1, slice_dim=64, scales=2) == estimate_memory(n, nnz, dim, threads=1, slice_dim=64)
