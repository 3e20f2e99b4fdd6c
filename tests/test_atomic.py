"""No partial files: every writer leaves the old file intact when it fails.

Faults are injected three ways: an exception inside `atomic_path`, a disk
that fills up after part of the output (every file opened for writing in the
destination folder fails once a byte budget is spent), and ``DataFrame.to_csv``
raising after it has written part of a table.  A real writer process is also
killed with SIGKILL in the middle of a write.  After a SIGKILL the
destination is intact and the hidden temporary file stays behind until the
next successful write to the same destination removes it.
"""

import ast
import builtins
import contextlib
import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bifurc
import bifurc._io
from bifurc import System
from bifurc._connections import Connection, ConnectionCurve
from bifurc._io import atomic_path, leftover_temporaries, write_text_atomic

OLD = b"old contents that must survive\n"

# Disk-full faults strike after this share of the writer's normal output, so
# that part of the file has really been written when the error comes.
PARTIAL_SHARE = 0.5

POSIX = os.name == "posix"


def _listing(folder):
    return sorted(path.name for path in Path(folder).iterdir())


def _fold_system():
    return System.from_callable(
        lambda x, p: np.array([p[0] - x[0] ** 2, -x[1]]),
        ["x", "y"],
        {"p": 1.0},
        jacobian=lambda x, p: np.array([[-2 * x[0], 0.0], [0.0, -1.0]]),
        param_jacobian=lambda x, p: np.array([[1.0], [0.0]]),
    )


def _pitchfork_system():
    return System.from_callable(
        lambda x, p: np.array([p[0] * x[0] - x[0] ** 3]),
        ["x"],
        {"p": -0.5},
        jacobian=lambda x, p: np.array([[p[0] - 3 * x[0] ** 2]]),
        param_jacobian=lambda x, p: np.array([[x[0]]]),
        box=([-2.0], [2.0]),
    )


def _connection(system):
    t = np.linspace(0.0, 10.0, 400)
    x = np.column_stack([np.tanh(t - 5.0), np.zeros_like(t)])
    return Connection(
        system=system,
        source=x[0],
        target=x[-1],
        param="p",
        value=0.25,
        p=np.array([0.25]),
        t=t,
        x=x,
        orbit=None,
        source_eigenvalues=np.array([1.0, -1.0]),
        target_eigenvalues=np.array([-1.0, -2.0]),
        n_unstable_source=1,
        n_stable_target=2,
    )


def _curve(connection):
    count = 200
    return ConnectionCurve(
        param="p",
        param2="q",
        values=np.linspace(0.0, 1.0, count),
        values2=np.linspace(1.0, 2.0, count),
        arclength=np.linspace(0.0, 1.5, count),
        connections=(connection,) * count,
    )


def _figure_writer(diagram, suffix):
    def write(path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from bifurc.plotting import plot_diagram, save_figure

        ax = plot_diagram(diagram)
        try:
            save_figure(ax.figure, path)
        finally:
            plt.close(ax.figure)

    write.suffix = suffix
    return write


def _csv_writer(result):
    def write(path):
        result.to_csv(path)

    write.suffix = ".csv"
    return write


@pytest.fixture(scope="module")
def writers():
    """Every kind of file bifurc writes, as ``name -> write(path)``."""
    branch = bifurc.continuation(
        _fold_system(), [1.0, 0.0], "p", (-1.0, 2.0), ds_max=0.05
    )
    diagram = bifurc.diagram(_pitchfork_system(), [0.0], "p", (-0.5, 1.0))
    sequence = bifurc.bifurcation_sequence(
        _pitchfork_system(), "p", (-0.5, 1.0), n_samples=3, n_starts=4
    )
    connection = _connection(_fold_system())
    return {
        "branch": _csv_writer(branch),
        "diagram": _csv_writer(diagram),
        "sequence": _csv_writer(sequence),
        "connection": _csv_writer(connection),
        "connection_curve": _csv_writer(_curve(connection)),
        "figure_png": _figure_writer(diagram, ".png"),
        "figure_pdf": _figure_writer(diagram, ".pdf"),
        "figure_svg": _figure_writer(diagram, ".svg"),
    }


WRITERS = [
    "branch",
    "diagram",
    "sequence",
    "connection",
    "connection_curve",
    "figure_png",
    "figure_pdf",
    "figure_svg",
]


# ----------------------------------------------------------------------
# Fault injection


class _DiskFull:
    """A file object that fails like a full disk once `budget` units are written."""

    def __init__(self, handle, budget, record):
        self._handle, self._budget, self._record = handle, budget, record
        self._written = 0

    def write(self, data):
        room = self._budget - self._written
        if len(data) > room:
            self._handle.write(data[: max(room, 0)])
            self._handle.flush()
            self._record.append(self._handle.name)
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        self._written += len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __iter__(self):
        return iter(self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._handle.close()
        return False


@contextlib.contextmanager
def disk_full_after(folder, budget):
    """Make files opened for writing in `folder` fail after `budget` units.

    Yields the list of the files where the fault struck.
    """
    real_open, folder, record = builtins.open, Path(folder).resolve(), []

    def faulty_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        writing = any(flag in mode for flag in "wax+")
        if writing and isinstance(file, str | os.PathLike):
            if Path(file).resolve().parent == folder:
                return _DiskFull(handle, budget, record)
        return handle

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "open", faulty_open)
        yield record


def _normal_size(write, tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    path = reference / f"out{write.suffix}"
    write(path)
    return path.stat().st_size


def _destination(tmp_path, suffix):
    target = tmp_path / "target"
    target.mkdir()
    path = target / f"result{suffix}"
    path.write_bytes(OLD)
    return path


# ----------------------------------------------------------------------
# Every writer


@pytest.mark.parametrize("name", WRITERS)
def test_disk_full_mid_write_leaves_the_old_file(writers, name, tmp_path):
    write = writers[name]
    budget = int(PARTIAL_SHARE * _normal_size(write, tmp_path))
    path = _destination(tmp_path, write.suffix)

    with disk_full_after(path.parent, budget) as struck:
        # matplotlib's PDF backend, closing its streams after the error,
        # replaces it with an AttributeError; either way the write fails.
        with pytest.raises((OSError, AttributeError)):
            write(path)

    assert struck, "the writer never wrote through a file in the destination folder"
    assert all(Path(name).name != path.name for name in struck)
    assert path.read_bytes() == OLD
    assert _listing(path.parent) == [path.name]


@pytest.mark.parametrize("name", WRITERS)
def test_successful_write_replaces_the_file_and_leaves_nothing_else(
    writers, name, tmp_path
):
    write = writers[name]
    path = _destination(tmp_path, write.suffix)
    write(path)

    assert path.read_bytes() != OLD
    assert path.stat().st_size > len(OLD)
    assert _listing(path.parent) == [path.name]


@pytest.mark.parametrize(
    "name", ["branch", "diagram", "sequence", "connection", "connection_curve"]
)
def test_to_csv_raising_after_partial_output_leaves_the_old_file(
    writers, name, tmp_path, monkeypatch
):
    real_to_csv, calls = pd.DataFrame.to_csv, []

    def failing_to_csv(frame, path_or_buf=None, *args, **kwargs):
        calls.append(path_or_buf)
        text = real_to_csv(frame, None, *args, **kwargs)
        if path_or_buf is not None:
            with open(path_or_buf, "w", encoding="utf-8") as handle:
                handle.write(text[: len(text) // 2])
        raise RuntimeError("to_csv failed half-way (injected)")

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing_to_csv)
    path = _destination(tmp_path, ".csv")
    with pytest.raises(RuntimeError, match="half-way"):
        writers[name](path)

    assert calls, "the writer did not use DataFrame.to_csv"
    assert path.read_bytes() == OLD
    assert _listing(path.parent) == [path.name]


def test_keyboard_interrupt_mid_write_leaves_the_old_file(writers, tmp_path):
    path = _destination(tmp_path, ".csv")
    real_to_csv = pd.DataFrame.to_csv

    def interrupted(frame, path_or_buf=None, *args, **kwargs):
        real_to_csv(frame, path_or_buf, *args, **kwargs)
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pd.DataFrame, "to_csv", interrupted)
        with pytest.raises(KeyboardInterrupt):
            writers["branch"](path)

    assert path.read_bytes() == OLD
    assert _listing(path.parent) == [path.name]


# ----------------------------------------------------------------------
# atomic_path itself


@pytest.mark.parametrize("error", [OSError, ValueError, KeyboardInterrupt])
def test_exception_in_the_block_removes_the_temporary(tmp_path, error):
    path = tmp_path / "data.csv"
    path.write_bytes(OLD)
    with pytest.raises(error):
        with atomic_path(path) as tmp:
            tmp.write_text("half of the new")
            raise error("stop")
    assert path.read_bytes() == OLD
    assert _listing(tmp_path) == ["data.csv"]


def test_temporary_is_hidden_beside_the_destination_with_its_suffix(tmp_path):
    path = tmp_path / "figure.svg"
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".figure.svg.")
        assert tmp.suffix == ".svg"
        assert tmp.exists() and not path.exists()
        tmp.write_text("<svg/>")
    assert path.read_text() == "<svg/>"
    assert _listing(tmp_path) == ["figure.svg"]


def test_data_reach_the_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd)
    )
    monkeypatch.setattr(
        os, "replace", lambda a, b: events.append("replace") or real_replace(a, b)
    )
    write_text_atomic(tmp_path / "a.txt", "text")
    assert "fsync" in events and "replace" in events
    assert events.index("fsync") < events.index("replace")


def test_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    path.write_bytes(OLD)

    def no_rename(source, target):
        raise PermissionError(errno.EACCES, "rename refused (injected)")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(PermissionError):
        write_text_atomic(path, "new")
    assert path.read_bytes() == OLD
    assert _listing(tmp_path) == ["a.csv"]


def test_text_is_written_exactly(tmp_path):
    text = "a,b\r\n1,2\n\u00e9\n"
    write_text_atomic(tmp_path / "t.csv", text)
    assert (tmp_path / "t.csv").read_bytes() == text.encode("utf-8")


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        write_text_atomic(tmp_path / "missing" / "a.csv", "x")
    assert _listing(tmp_path) == []


def test_a_folder_is_not_overwritten(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(IsADirectoryError, match="folder"):
        write_text_atomic(tmp_path / "out.csv", "x")
    assert (tmp_path / "out.csv").is_dir()
    assert _listing(tmp_path) == ["out.csv"]


@pytest.mark.skipif(not POSIX, reason="POSIX permissions and umask")
def test_new_file_gets_the_usual_permissions(tmp_path):
    old_mask = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "new.csv", "x")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "shared.csv"
    path.write_bytes(OLD)
    path.chmod(0o664)
    old_mask = os.umask(0o077)
    try:
        write_text_atomic(path, "new")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


@pytest.mark.skipif(not POSIX, reason="symbolic links")
def test_symbolic_link_is_written_through(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    target = runs / "run3.csv"
    target.write_bytes(OLD)
    link = tmp_path / "latest.csv"
    link.symlink_to(target)

    write_text_atomic(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"
    assert _listing(runs) == ["run3.csv"]


def test_concurrent_writers_leave_one_whole_version(tmp_path):
    path = tmp_path / "shared.csv"
    versions = [f"{k}," * 20_000 + "\n" for k in range(4)]

    def write(text):
        for _ in range(10):
            write_text_atomic(path, text)

    threads = [threading.Thread(target=write, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_text() in versions
    assert _listing(tmp_path) == ["shared.csv"]


# ----------------------------------------------------------------------
# A writer killed with SIGKILL

KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from bifurc._io import atomic_path

    with atomic_path(sys.argv[1]) as tmp:
        with open(tmp, "w") as handle:
            handle.write("p,x\\n")
            for i in range(200_000):
                handle.write(f"{i},{i * 0.5}\\n")
            handle.flush()
            print(tmp, flush=True)
            sys.stdin.read()
    """
)


@pytest.mark.skipif(not POSIX, reason="SIGKILL")
def test_sigkill_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "branch.csv"
    path.write_bytes(OLD)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        tmp = Path(child.stdout.readline().strip())
        assert tmp.stat().st_size > 1_000_000
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdin.close()
        child.stdout.close()

    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == OLD
    assert _listing(tmp_path) == sorted([path.name, tmp.name])
    assert tmp.name.startswith(".branch.csv.")
    assert leftover_temporaries(path) == [tmp]

    write_text_atomic(path, "p,x\n0,0\n")
    assert path.read_text() == "p,x\n0,0\n"
    assert _listing(tmp_path) == [path.name]


def test_temporaries_of_running_writers_are_not_leftovers(tmp_path):
    path = tmp_path / "a.csv"
    with atomic_path(path) as tmp:
        tmp.write_text("in progress")
        assert leftover_temporaries(path) == []
        write_text_atomic(path, "other writer")
        assert tmp.exists()
    assert path.read_text() == "in progress"


def test_other_files_are_never_taken_for_leftovers(tmp_path):
    path = tmp_path / "a.csv"
    keep = [".a.csv.swp", ".a.csv.1-zz.tmp.csv", ".b.csv.1-ab.tmp.csv", "a.csv.bak"]
    for name in keep:
        (tmp_path / name).write_text("keep")
    write_text_atomic(path, "x")
    assert _listing(tmp_path) == sorted([*keep, "a.csv"])


def _dead_pid():
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(not POSIX, reason="process ids of exited processes")
@pytest.mark.parametrize(
    "name",
    ["a+b(1).csv", "run [3].csv", "r\u00e9sultat \u03bb.csv", ".hidden.csv", "noext"],
)
def test_leftovers_of_dead_writers_are_removed_for_any_file_name(tmp_path, name):
    path = tmp_path / name
    suffix = path.suffix
    leftover = tmp_path / f".{name}.{_dead_pid()}-0123abcd.tmp{suffix}"
    leftover.write_text("partial")

    assert leftover_temporaries(path) == [leftover]
    write_text_atomic(path, "whole")
    assert path.read_text() == "whole"
    assert _listing(tmp_path) == [name]


# ----------------------------------------------------------------------
# Every writer in the package goes through atomic_path

# Calls that write a file given its path as first argument (or ``path_or_buf``,
# ``fname``, ``file``).
_WRITING_METHODS = {
    "to_csv", "to_json", "to_parquet", "to_excel", "to_pickle", "to_html",
    "savefig", "write_text", "write_bytes", "save", "savez", "savez_compressed",
    "savetxt", "tofile", "imsave", "dump",
}  # fmt: skip
_PATH_KEYWORDS = ("path_or_buf", "path", "fname", "file", "filename")


def _target(call):
    """The expression naming the file a writing call writes, or None."""
    if call.args:
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg in _PATH_KEYWORDS:
            return keyword.value
    return None


def _writes_to(call):
    """(kind, target) of a call that writes a file, or None."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open":
        mode = call.args[1] if len(call.args) > 1 else None
        for keyword in call.keywords:
            mode = keyword.value if keyword.arg == "mode" else mode
        text = mode.value if isinstance(mode, ast.Constant) else "r"
        return ("open", _target(call)) if set(str(text)) & set("wax+") else None
    if isinstance(func, ast.Attribute) and func.attr in _WRITING_METHODS:
        target = _target(call)
        if func.attr == "to_csv" and (target is None or _is_none(target)):
            return None
        if func.attr == "dump" or _is_result(func.value):
            return None
        return (func.attr, target)
    return None


# Variables that hold bifurc results, whose own to_csv is atomic (checked by
# the fault-injection tests above).
_RESULT_NAMES = {"result", "branch", "diagram", "sequence", "connection", "curve"}


def _is_result(node):
    return isinstance(node, ast.Name) and node.id in _RESULT_NAMES


def _is_none(node):
    return isinstance(node, ast.Constant) and node.value is None


def _atomic_names(tree):
    """Names bound by ``with atomic_path(...) as NAME`` and the lines they cover."""
    covered = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.With | ast.AsyncWith):
            continue
        for item in node.items:
            call, name = item.context_expr, item.optional_vars
            if (
                isinstance(call, ast.Call)
                and getattr(call.func, "id", getattr(call.func, "attr", ""))
                == "atomic_path"
                and isinstance(name, ast.Name)
            ):
                covered.append((name.id, node.lineno, node.end_lineno))
    return covered


def _unprotected_writes(source):
    tree = ast.parse(source)
    covered = _atomic_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or (write := _writes_to(node)) is None:
            continue
        kind, target = write
        protected = isinstance(target, ast.Name) and any(
            target.id == name and start <= node.lineno <= end
            for name, start, end in covered
        )
        if not protected:
            found.append(f"line {node.lineno}: {kind}({ast.unparse(target or node)})")
    return found


def test_the_scanner_sees_unprotected_writes():
    source = textwrap.dedent(
        """
        def good(frame, path):
            with atomic_path(path) as tmp:
                frame.to_csv(tmp)
                with open(tmp, "w") as handle:
                    handle.write("x")
            return frame.to_csv(None)

        def bad(frame, figure, path):
            frame.to_csv(path)
            figure.savefig(path)
            open(path, "a").write("x")
        """
    )
    assert len(_unprotected_writes(source)) == 3


def test_every_file_written_by_the_package_goes_through_atomic_path():
    package = Path(bifurc.__file__).parent
    io_module = Path(bifurc._io.__file__)
    problems = []
    for module in sorted(package.rglob("*.py")):
        if module == io_module:
            continue
        for problem in _unprotected_writes(module.read_text(encoding="utf-8")):
            problems.append(f"{module.relative_to(package)} {problem}")
    assert not problems, "\n".join(problems)
