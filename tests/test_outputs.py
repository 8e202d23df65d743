"""Outputs never destroy data: checked targets, atomic sets, signals, permissions (issue 9)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cleora_tensor import Embedding
from cleora_tensor.formats import atomic
from cleora_tensor.cli import main

EDGES = "a\tb\nb\tc\nc\ta\nc\td\n"


@pytest.fixture
def edges(tmp_path):
    path = tmp_path / "edges.tsv"
    path.write_text(EDGES)
    return path


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return status, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _embed(edges, output, *extra):
    return ["embed", edges, "--columns", "node node", "--dim", "4", "-q", "-o", output, *extra]


# --- targets refused before any work -------------------------------------------


def test_check_output_refuses_devices_without_touching_them():
    for device in ("/dev/null", "/dev/zero"):
        if os.path.exists(device):
            with pytest.raises(ValueError, match="character device"):
                atomic.check_output(device)
            assert stat.S_ISCHR(os.stat(device).st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_output_is_refused_and_kept(capsys, tmp_path, edges):
    fifo = tmp_path / "p.npz"
    os.mkfifo(fifo)
    status, err = _run(capsys, *_embed(edges, fifo))
    assert status == 2
    line = _one_error_line(err)
    assert str(fifo) in line and "FIFO" in line
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_folder_output_is_refused(capsys, tmp_path, edges):
    folder = tmp_path / "out.npz"
    folder.mkdir()
    status, err = _run(capsys, *_embed(edges, folder))
    assert status == 2 and "folder" in _one_error_line(err)
    assert folder.is_dir() and not any(folder.iterdir())


def test_output_equal_to_input_is_refused(capsys, tmp_path):
    # ".txt" is both an input (TSV) and an output (cleora text) extension.
    path = tmp_path / "edges.txt"
    path.write_text(EDGES)
    status, err = _run(capsys, *_embed(path, path))
    assert status == 2
    line = _one_error_line(err)
    assert "is the input" in line and str(path) in line
    assert path.read_text() == EDGES
    # Also through a symbolic link and a hard link to the input.
    link = tmp_path / "link.txt"
    link.symlink_to(path)
    hard = tmp_path / "hard.txt"
    os.link(path, hard)
    for target in (link, hard):
        status, err = _run(capsys, *_embed(path, target))
        assert status == 2 and "is the input" in _one_error_line(err)
    assert path.read_text() == EDGES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edges.txt", "hard.txt", "link.txt"]


def test_missing_folder_and_unknown_extension_fail_before_reading(capsys, tmp_path):
    # The input does not exist either: the output is checked first, so the
    # message is about the output, not about a computation that ran.
    missing_input = tmp_path / "no_such_input.tsv"
    status, err = _run(capsys, *_embed(missing_input, tmp_path / "missing" / "out.npz"))
    assert status == 2
    line = _one_error_line(err)
    assert "does not exist" in line and str(tmp_path / "missing") in line and "Errno" not in line
    status, err = _run(capsys, *_embed(missing_input, tmp_path / "out.xyz"))
    assert status == 2 and "cannot infer the format" in _one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_symlink_output_is_followed(capsys, tmp_path, edges):
    real = tmp_path / "real.npz"
    real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    status, _ = _run(capsys, *_embed(edges, link))
    assert status == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert len(Embedding.load(real)) == 4


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_overwrite_keeps_permission_bits(capsys, tmp_path, edges):
    out = tmp_path / "out.npz"
    out.write_bytes(b"old")
    out.chmod(0o600)
    assert _run(capsys, *_embed(edges, out))[0] == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(Embedding.load(out)) == 4
    new = tmp_path / "new.npz"
    assert _run(capsys, *_embed(edges, new))[0] == 0
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask


# --- atomic writes ----------------------------------------------------------------


def test_atomic_write_replaces_on_success_only(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with atomic.atomic_write(path) as file:
        file.write(b"new")
        assert path.read_bytes() == b"old"
        (temporary,) = [p for p in tmp_path.iterdir() if p != path]
        assert temporary.name.startswith(f".out.bin.{os.getpid()}.") and temporary.name.endswith(".tmp")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.bin"]
    with pytest.raises(RuntimeError), atomic.atomic_write(path) as file:
        file.write(b"partial")
        raise RuntimeError
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.bin"]


def test_atomic_files_is_all_or_nothing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"old a")
    with pytest.raises(KeyboardInterrupt), atomic.AtomicFiles() as files:
        files.open(a).write(b"new a")
        files.open(b).write(b"new b")
        raise KeyboardInterrupt
    assert a.read_bytes() == b"old a" and not b.exists()
    assert os.listdir(tmp_path) == ["a"]


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path):
    path = tmp_path / "out.npz"
    dead = tmp_path / ".out.npz.999999999.abcdefgh.tmp"  # above any pid_max
    alive = tmp_path / f".out.npz.{os.getpid()}.abcdefgh.tmp"
    other = tmp_path / ".other.npz.999999999.abcdefgh.tmp"
    for stale in (dead, alive, other):
        stale.write_bytes(b"partial")
    with atomic.atomic_write(path) as file:
        file.write(b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.npz", alive.name, other.name])


def test_write_error_names_the_target_not_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"

    class Full(OSError):
        pass

    with pytest.raises(OSError) as caught, atomic.atomic_write(path):
        (temporary,) = tmp_path.iterdir()
        raise Full(28, "No space left on device", str(temporary))
    assert caught.value.filename == str(path)
    assert os.listdir(tmp_path) == []


# --- pairwise outputs are one set ----------------------------------------------------


def test_failed_pairwise_run_writes_nothing_and_keeps_the_old_set(capsys, tmp_path):
    good = tmp_path / "good.tsv"
    good.write_text("u1\ti1\ts1\nu2\ti1\ts2\nu2\ti2\ts1\n")
    out = tmp_path / "out.txt"
    spec = ["--columns", "user item store", "--relations", "pairwise", "--dim", "4", "-q", "-o", out]
    assert main([str(a) for a in ["embed", good, *spec]]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert {"out__user__item.txt", "out__user__store.txt", "out__item__store.txt"} <= set(before)
    # A store id with a space cannot be written in the text format: the run
    # fails after computing every relation, and must leave the old set whole.
    bad = tmp_path / "bad.tsv"
    bad.write_text("u1\ti1\ts 1\nu3\ti3\ts2\nu2\ti2\ts1\n")
    status, err = _run(capsys, "embed", bad, *spec)
    line = _one_error_line(err)
    assert status == 2 and "out__user__store.txt" in line and "s 1'" in line
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "bad.tsv"}
    assert after == before


def test_text_ids_with_double_quotes_round_trip(tmp_path):
    ids = ['say"hi"', '"', "plain"]
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2) / 7
    embedding = Embedding(ids, np.full(3, "t"), vectors, np.ones(3), np.arange(3))
    for name in ("e.txt", "e.w2v"):
        embedding.save(tmp_path / name)
        loaded = Embedding.load(tmp_path / name)
        assert loaded.entity_ids == ids
        np.testing.assert_array_equal(loaded.vectors, vectors)
    assert (tmp_path / "e.txt").read_text().splitlines()[1].startswith('say"hi" 0 ')


# --- signals -------------------------------------------------------------------------

_SIGTERM_DURING_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    from cleora_tensor.formats import npz
    from cleora_tensor.cli import main

    write = npz.write_npz

    def write_then_terminate(out, fields):
        out.write(b"partial" * 1000)
        os.kill(os.getpid(), signal.SIGTERM)
        write(out, fields)

    npz.write_npz = write_then_terminate
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_during_write_cleans_up(tmp_path, edges):
    out = tmp_path / "out.npz"
    out.write_bytes(b"previous")
    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_DURING_WRITE, *map(str, _embed(edges, out))],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 128 + signal.SIGTERM
    assert done.stderr.strip().splitlines() == ["cleora-tensor: terminated"]
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edges.tsv", "out.npz"]


_SIGTERM_IN_LIBRARY = textwrap.dedent(
    """
    import os, signal, sys
    from cleora_tensor.formats.atomic import AtomicFiles

    with AtomicFiles() as files:
        files.open(sys.argv[1]).write(b"partial")
        os.kill(os.getpid(), signal.SIGTERM)
        print("not reached")
    """
)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_in_library_code_exits_143_without_temporaries(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_IN_LIBRARY, str(tmp_path / "out.bin")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 128 + signal.SIGTERM
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


# --- options -------------------------------------------------------------------------


def test_embed_new_with_a_spec_sharing_no_type_is_refused(capsys, tmp_path, edges):
    model = tmp_path / "model.npz"
    assert main(_embed(str(edges), str(model))) == 0
    new = tmp_path / "new.tsv"
    new.write_text("x\ty\n")
    status, err = _run(capsys, "embed-new", model, new, "--columns", "user item", "-o", tmp_path / "new.npz", "-q")
    assert status == 2
    line = _one_error_line(err)
    assert "shares no entity type" in line and "node" in line
    assert not (tmp_path / "new.npz").exists()
