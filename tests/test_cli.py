"""The command line, run as a user would (in process, and once as a real process)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cleora_tensor import Embedding
from cleora_tensor.cli import main


def run(capsys, *argv):
    status = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return status, out, err


def write(path, text, mode="w"):
    with open(path, mode) as handle:
        handle.write(text)
    return path


@pytest.fixture
def graph_file(tmp_path):
    return write(tmp_path / "g.tsv", "a\tb\nb\tc\nc\ta\nc\td\n")


def test_embed_writes_npz_and_similar_reads_it(tmp_path, graph_file, capsys):
    out = tmp_path / "e.npz"
    status, _, err = run(capsys, "embed", graph_file, "--columns", "node node", "--dim", 8,
                         "--iterations", 3, "--output", out)
    assert status == 0 and "wrote 4 vectors of dim 8" in err
    emb = Embedding.load(out)
    assert emb.entity_ids == ["a", "b", "c", "d"] and emb.vectors.dtype == np.float32
    assert emb.config.iterations == 3
    status, out_text, _ = run(capsys, "similar", out, "a", "--top-k", 2)
    lines = out_text.splitlines()
    assert status == 0 and len(lines) == 2 and lines[0].startswith("1\t")


@pytest.mark.parametrize("fmt", ["cleora", "word2vec", "parquet"])
def test_embed_other_formats(tmp_path, graph_file, capsys, fmt):
    out = tmp_path / f"e.{fmt}"
    status, _, _ = run(capsys, "embed", graph_file, "-c", "node node", "-d", 4, "-n", 2,
                       "-o", out, "--format", fmt, "--quiet")
    assert status == 0 and len(Embedding.load(out, format=fmt)) == 4


def test_pairwise_writes_one_file_per_relation(tmp_path, capsys):
    source = write(tmp_path / "r.tsv", "u1\ti1 i2\ts1\nu2\ti2\ts2\n")
    status, _, _ = run(capsys, "embed", source, "-c", "user complex::item store", "-d", 4,
                       "--relations", "pairwise", "-o", tmp_path / "out.npz", "-q")
    assert status == 0
    names = sorted(p.name for p in tmp_path.glob("out__*.npz"))
    assert names == ["out__item__store.npz", "out__user__item.npz", "out__user__store.npz"]


def test_info_reports_counts_and_memory(graph_file, capsys):
    status, out, _ = run(capsys, "info", graph_file, "-c", "node node", "--json", "--threads", 1)
    report = json.loads(out)
    assert status == 0 and report["rows"] == 4
    assert report["entities_per_type"] == {"node": 4}
    (graph,) = report["graphs"]
    assert graph["nnz"] == 8 and graph["estimated_peak_memory_bytes"] > 2 * 4 * 256 * 4
    assert (report["preset"], report["dim"], report["scales"]) == ("classification", 256, [])


def test_info_plans_with_the_preset(graph_file, capsys):
    import cleora_tensor as ct

    status, out, _ = run(capsys, "info", graph_file, "-c", "node node", "--json", "--threads", 1, "--preset", "retrieval")
    report = json.loads(out)
    assert status == 0 and (report["dim"], report["scales"]) == (512, [1, 2])
    # the retrieval preset's two scales of 512 columns, as estimate_memory counts them
    (graph,) = report["graphs"]
    assert graph["estimated_peak_memory_bytes"] == ct.estimate_memory(4, 8, 512, threads=1, pairs=graph["pairs"], input_ids=8, output_entities=4, scales=2)


BAD_INPUTS = {
    "missing column": ("a\tb\nc\n", "node node", ":2"),
    "empty file": ("", "node node", "no rows"),
    "non-utf8": (b"a\tb\nc\t\xff\n", "node node", ":2"),
    "unknown modifier": ("a\tb\n", "node bogus::node", "unknown modifier 'bogus'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, capsys, case):
    content, spec, fragment = BAD_INPUTS[case]
    source = write(tmp_path / "in.tsv", content, "wb" if isinstance(content, bytes) else "w")
    out = tmp_path / "out.npz"
    status, _, err = run(capsys, "embed", source, "-c", spec, "-o", out, "-q")
    assert status == 2
    assert err.count("\n") == 1 and "error:" in err and fragment in err
    assert list(tmp_path.iterdir()) == [source]  # no output, no temporary file


def test_missing_file_exits_2(tmp_path, capsys):
    status, _, err = run(capsys, "embed", tmp_path / "nope.tsv", "-c", "a b", "-o", tmp_path / "o.npz")
    assert status == 2 and "nope.tsv" in err and "Traceback" not in err


def test_skip_bad_rows_reports_the_count(tmp_path, capsys):
    source = write(tmp_path / "in.tsv", "a\tb\nc\nb\tc\n")
    status, _, err = run(capsys, "embed", source, "-c", "n n", "-d", 4, "-o", tmp_path / "o.npz",
                         "-q", "--skip-bad-rows")
    assert status == 0 and "warning:" in err and "1" in err


def test_unknown_entity_in_similar_exits_2(tmp_path, graph_file, capsys):
    out = tmp_path / "e.npz"
    run(capsys, "embed", graph_file, "-c", "node node", "-d", 4, "-o", out, "-q")
    status, _, err = run(capsys, "similar", out, "zzz")
    assert status == 2 and "zzz" in err


def test_python_dash_m_is_a_real_process_without_traceback(tmp_path):
    bad = write(tmp_path / "bad.tsv", "a\tb\nc\n")
    done = subprocess.run([sys.executable, "-m", "cleora_tensor", "embed", str(bad), "-c", "n n",
                           "-o", str(tmp_path / "o.npz")], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "bad.tsv:2" in done.stderr
    usage = subprocess.run([sys.executable, "-m", "cleora_tensor", "embed"], capture_output=True, text=True)
    assert usage.returncode == 2 and "--columns" in usage.stderr


def test_groceries_acceptance(tmp_path, data_file, capsys):
    out = tmp_path / "g.npz"
    argv = ["embed", data_file("groceries/baskets.tsv"), "--columns",
            "transient::basket complex::reflexive::item", "--dim", 128, "--iterations", 20, "--output", out, "-q"]
    assert run(capsys, *argv)[0] == 0
    first = Embedding.load(out)
    assert len(first) == 169 and first.vectors.dtype == np.float32 and np.isfinite(first.vectors).all()
    assert run(capsys, *argv)[0] == 0
    np.testing.assert_array_equal(Embedding.load(out).vectors, first.vectors)


def test_embed_and_ranking_evaluation_pass_the_same_embed_keywords(tmp_path, graph_file, capsys, monkeypatch):
    import cleora_tensor
    import cleora_tensor.evaluation

    seen = {}

    def fake_embed(source, **kwargs):
        seen["embed"] = kwargs
        raise ValueError("stop")

    def fake_report(source, **kwargs):
        seen["evaluate"] = kwargs
        raise ValueError("stop")

    monkeypatch.setattr(cleora_tensor, "embed", fake_embed)
    monkeypatch.setattr(cleora_tensor.evaluation, "link_prediction_report", fake_report)
    options = ["--columns", "node node", "--preset", "pycleora", "--dim", 8, "--iterations", 2, "--whiten", "zca",
               "--no-whiten-each-step", "--whiten-floor", 0.2, "--residual", 0.1, "--tol", 0.5, "--seed", 3,
               "--init", "hash", "--singletons", "keep", "--scales", 1, 2, "--max-cell-size", 0, "--threads", 2, "--propagation", "symmetric"]
    assert run(capsys, "embed", graph_file, "-o", tmp_path / "e.npz", "-q", *options)[0] == 2
    assert run(capsys, "evaluate", "link-prediction", graph_file, *options)[0] == 2
    embed_kwargs, report_kwargs = seen["embed"], seen["evaluate"]
    shared = {k: v for k, v in embed_kwargs.items() if k in report_kwargs}
    assert shared == {
        "columns": "node node", "preset": "pycleora", "dim": 8, "iterations": 2, "propagation": "symmetric",
        "whiten": "zca", "whiten_each_step": False, "whiten_floor": 0.2, "residual": 0.1, "tol": 0.5, "seed": 3,
        "init": "hash", "singletons": "keep", "scales": [1, 2], "max_cell_size": None, "threads": 2, "backend": "scipy", "device": None,
        "attention": None, "directed": None,
    }
    assert {k: v for k, v in report_kwargs.items() if k in shared} == shared
    assert {k: embed_kwargs[k] for k in embed_kwargs.keys() - shared.keys()} == {
        "relations": "joint", "input_format": None, "skip_bad_rows": False, "progress": False,
        "memory_limit": None, "output": tmp_path / "e.npz", "distributed": False,
    }


def test_max_cell_size_zero_disables_the_guard_in_the_saved_config(tmp_path, graph_file, capsys):
    out = tmp_path / "e.npz"
    assert run(capsys, "embed", graph_file, "-c", "node node", "-d", 4, "--max-cell-size", 0, "-o", out, "-q")[0] == 0
    assert Embedding.load(out).config.max_cell_size is None
