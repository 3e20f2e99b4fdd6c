"""Same inputs and seed, same bytes; results independent of discovery order.

Byte identity is checked within one process (with the global random states
disturbed in between) and across processes started with different
``PYTHONHASHSEED`` values, for every CSV writer and for the figure formats.
Order independence: a diagram started on another of its branches, and a
sequence whose census meets the rest points in another order (another seed,
more starts, the sweep reversed), report the same special points.
"""

import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import problems
import pytest

import bifurc
import bifurc.models
from bifurc import System

# Located special points agree to this (they are located to about 1e-10).
SAME_VALUE_ATOL = 1e-8


def _tilted_system():
    """A tilted double well in u coupled to v: two folds, no symmetry."""

    def f(x, p):
        u, v = x
        return np.array([p[0] + u - u**3 + 0.2 * v, -v + 0.3 * u**2])

    def jacobian(x, p):
        u = x[0]
        return np.array([[1 - 3 * u**2, 0.2], [0.6 * u, -1.0]])

    return System.from_callable(
        f,
        ["u", "v"],
        {"p": -1.0},
        jacobian=jacobian,
        param_jacobian=lambda x, p: np.array([[1.0], [0.0]]),
        box=([-3.0, -3.0], [3.0, 3.0]),
    )


def _sequence(system, p_range=(-1.0, 4.0), **options):
    settings = {"n_samples": 7, "n_starts": 12, "connections": False, **options}
    return bifurc.bifurcation_sequence(system, "p", p_range, **settings)


def _disturb_global_random_states():
    np.random.seed(12345)
    np.random.standard_normal(100)
    random.seed(678)
    random.random()


def _events(sequence):
    return sorted((event.label, round(event.value, 7)) for event in sequence.events)


def _csv_bytes(result, path):
    result.to_csv(path)
    return path.read_bytes()


# ----------------------------------------------------------------------
# Byte identity in one process


def test_branch_csv_is_byte_identical_from_run_to_run(tmp_path):
    model = bifurc.models.get("hopf")
    runs = []
    for k in range(2):
        branch = bifurc.continuation(
            model.build(), np.zeros(2), model.param, model.p_range, p0=-0.5
        )
        runs.append(_csv_bytes(branch, tmp_path / f"branch{k}.csv"))
        _disturb_global_random_states()
    assert runs[0] == runs[1]
    assert b",H," in runs[0]


def test_diagram_csv_is_byte_identical_from_run_to_run(tmp_path):
    runs = []
    for k in range(2):
        diagram = bifurc.diagram(
            problems.pitchforks_system(), [0.0, 0.0], "p", (-1.0, 4.0)
        )
        runs.append(_csv_bytes(diagram, tmp_path / f"diagram{k}.csv"))
        _disturb_global_random_states()
    assert runs[0] == runs[1]
    assert runs[0].count(b",BP,") >= 4


def test_sequence_csv_is_byte_identical_for_the_same_seed(tmp_path):
    runs = []
    for k in range(2):
        sequence = _sequence(_tilted_system(), (-1.0, 1.0), seed=7)
        runs.append(_csv_bytes(sequence, tmp_path / f"sequence{k}.csv"))
        runs.append(_csv_bytes(sequence.diagram, tmp_path / f"branches{k}.csv"))
        _disturb_global_random_states()
    assert runs[0] == runs[2] and runs[1] == runs[3]
    assert runs[0].count(b",LP,") == 2


def _save_twice(tmp_path, suffix, monkeypatch):
    """Save one diagram twice, as if a day apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bifurc.plotting import plot_diagram, save_figure

    diagram = bifurc.diagram(problems.pitchforks_system(), [0.0, 0.0], "p", (-1.0, 4.0))
    files = []
    for k, clock in enumerate(("0", "86400")):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", clock)
        ax = plot_diagram(diagram)
        files.append(save_figure(ax.figure, tmp_path / f"figure{k}{suffix}"))
        plt.close(ax.figure)
    return [path.read_bytes() for path in files]


def test_saved_png_is_byte_identical(tmp_path, monkeypatch):
    first, second = _save_twice(tmp_path, ".png", monkeypatch)
    assert first == second


def test_saved_pdf_is_byte_identical(tmp_path, monkeypatch):
    first, second = _save_twice(tmp_path, ".pdf", monkeypatch)
    assert first == second


def test_saved_svg_is_byte_identical(tmp_path, monkeypatch):
    first, second = _save_twice(tmp_path, ".svg", monkeypatch)
    assert first == second


# ----------------------------------------------------------------------
# Byte identity across processes

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import numpy as np
    import matplotlib

    matplotlib.use("Agg")
    import bifurc
    import bifurc.models
    from bifurc.plotting import plot_diagram, save_figure

    out = Path(sys.argv[1])
    hopf = bifurc.models.get("hopf")
    branch = bifurc.continuation(
        hopf.build(), np.zeros(2), hopf.param, hopf.p_range, p0=-0.5
    )
    branch.to_csv(out / "branch.csv")

    wells = bifurc.models.get("two-well")
    diagram = bifurc.diagram(
        wells.build(), np.zeros(2), wells.param, wells.p_range, p0=wells.p_range[0]
    )
    diagram.to_csv(out / "diagram.csv")
    ax = plot_diagram(diagram)
    save_figure(ax.figure, out / "diagram.png")
    save_figure(ax.figure, out / "diagram.pdf")

    cusp = bifurc.models.get("cusp")
    sequence = bifurc.bifurcation_sequence(
        cusp.build(), cusp.param, cusp.p_range, seed=3
    )
    sequence.to_csv(out / "sequence.csv")
    sequence.diagram.to_csv(out / "sequence_branches.csv")
    """
)

CHILD_FILES = [
    "branch.csv",
    "diagram.csv",
    "diagram.png",
    "diagram.pdf",
    "sequence.csv",
    "sequence_branches.csv",
]


def test_files_are_byte_identical_across_processes(tmp_path):
    children, folders = [], []
    for hash_seed in ("1", "2024"):
        folder = tmp_path / f"hashseed{hash_seed}"
        folder.mkdir()
        # One fixed clock for the PDF creation date, which matplotlib takes
        # from SOURCE_DATE_EPOCH (the clock itself is tested below).
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "SOURCE_DATE_EPOCH": "0"}
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", CHILD, str(folder)],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        folders.append(folder)
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err

    for name in CHILD_FILES:
        first, second = (folder / name for folder in folders)
        assert first.stat().st_size > 100, name
        assert first.read_bytes() == second.read_bytes(), name


# ----------------------------------------------------------------------
# Independence of the order of discovery


def _special_values(diagram):
    return sorted(
        (point.label, round(point.value, 7), *np.round(np.abs(point.x), 6))
        for point in diagram.special_points
    )


def test_diagram_does_not_depend_on_the_primary_branch():
    """Started on the trivial branch or on u = sqrt(p): the same four BPs."""
    system = problems.pitchforks_system()
    trivial = bifurc.diagram(system, [0.0, 0.0], "p", (-1.0, 4.0), max_depth=4)
    on_u = bifurc.diagram(
        system, [np.sqrt(3.0), 0.0], "p", (-1.0, 4.0), p0=3.0, max_depth=4
    )
    expected = sorted(
        [("BP", 0.0, 0.0, 0.0), ("BP", 2.0, 0.0, 0.0), ("BP", 2.0, np.sqrt(2.0), 0.0)]
    )
    for diagram in (trivial, on_u):
        found = {
            (label, round(value, 6), round(u, 5), round(v, 5))
            for label, value, u, v in _special_values(diagram)
        }
        assert sorted(found) == [
            (label, round(value, 6), round(u, 5), round(v, 5))
            for label, value, u, v in expected
        ]


@pytest.mark.parametrize(
    "system", [problems.pitchforks_system, _tilted_system], ids=["pitchforks", "tilted"]
)
def test_sequence_table_does_not_depend_on_the_seed(tmp_path, system):
    p_range = (-1.0, 4.0) if system is problems.pitchforks_system else (-1.0, 1.0)
    tables = [
        _csv_bytes(_sequence(system(), p_range, seed=seed), tmp_path / f"s{seed}.csv")
        for seed in (0, 1, 2)
    ]
    assert tables[0] == tables[1] == tables[2]


def test_sequence_does_not_depend_on_the_number_of_starts():
    few = _sequence(_tilted_system(), (-1.0, 1.0), n_starts=6)
    many = _sequence(_tilted_system(), (-1.0, 1.0), n_starts=40, seed=5)
    assert _events(few) == _events(many)
    assert [label for label, _ in _events(few)] == ["LP", "LP"]


def test_reversed_sweep_meets_the_same_events_in_reverse_order():
    up = _sequence(_tilted_system(), (-1.0, 1.0))
    down = _sequence(_tilted_system(), (1.0, -1.0))
    up_values = [event.value for event in up.events]
    down_values = [event.value for event in down.events]
    assert up_values == sorted(up_values)
    assert down_values == sorted(down_values, reverse=True)
    np.testing.assert_allclose(up_values, down_values[::-1], atol=SAME_VALUE_ATOL)
    assert [e.label for e in up.events] == [e.label for e in down.events][::-1]
