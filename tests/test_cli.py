"""The command line and the branch CSV format."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import problems
import pytest

import bifurc
from bifurc.cli import main

TOML = """
name = "cusp from a file"
variables = ["x"]
[parameters]
mu = -2.0
[equations]
x = "mu + x - x**3"
"""


@pytest.fixture
def cusp_file(tmp_path):
    path = tmp_path / "cusp.toml"
    path.write_text(TOML)
    return path


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "pitchfork" in out and "hopfield" in out


def test_continue_builtin_model_prints_the_special_points(capsys):
    assert main(["continue", "pitchfork"]) == 0
    out = capsys.readouterr().out
    assert "BP" in out and "pitchfork" in out
    assert "reached_bound" in out


def test_continue_toml_file_writes_the_branch_csv(cusp_file, tmp_path, capsys):
    csv = tmp_path / "branch.csv"
    code = main(
        [
            "continue",
            str(cusp_file),
            "--param",
            "mu",
            "--range",
            "-2",
            "2",
            "--x0",
            "-1.52",
            "--csv",
            str(csv),
        ]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert out.count("LP") == 2 and "0.38490017946" in out

    table = pd.read_csv(csv, keep_default_na=False)
    assert list(table.columns[:7]) == [
        "branch",
        "point",
        "label",
        "kind",
        "mu",
        "x",
        "n_unstable",
    ]

    folds = table[table.label == "LP"]
    reference = 2 / (3 * math.sqrt(3))
    assert sorted(folds.mu.astype(float)) == pytest.approx(
        [-reference, reference], rel=1e-9
    )
    assert set(table.kind) == {"", "saddle-node", "end"}

    assert list(table.point) == list(range(len(table)))


def test_set_other_parameters_and_diagram(tmp_path, capsys):
    path = tmp_path / "pitchfork.toml"
    path.write_text(
        'variables = ["x"]\n[parameters]\np = -1.0\nc = 1.0\n'
        '[equations]\nx = "p*x - c*x**3"\n'
    )
    csv = tmp_path / "diagram.csv"

    code = main(
        [
            "continue",
            str(path),
            "--range",
            "-1",
            "1",
            "--set",
            "c=4",
            "--diagram",
            "--csv",
            str(csv),
        ]
    )

    assert code == 0
    table = pd.read_csv(csv, keep_default_na=False)
    assert sorted(set(table.branch)) == [0, 1]
    new = table[(table.branch == 1) & (table.label == "")]
    assert np.allclose(4 * new.x.astype(float) ** 2, new.p.astype(float), atol=1e-9)


def test_plot_file_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "cusp.png"
    assert main(["continue", "cusp", "--plot", str(plot)]) == 0
    assert plot.stat().st_size > 1000


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["continue", "no-such-model"], "unknown model 'no-such-model'"),
        (["continue", "pitchfork", "--param", "q"], "unknown parameter 'q'"),
        (["continue", "pitchfork", "--set", "c"], "NAME=VALUE"),
        (["continue", "pitchfork", "--set", "zz=1"], "unknown parameter 'zz'"),
        (["continue", "pitchfork", "--x0", "nan"], "--x0 must be finite"),
        (["continue", "pitchfork", "--range", "1", "1"], "distinct"),
        (["continue", "pitchfork", "--p0", "9"], "outside the range"),
        (["continue", "pitchfork", "--ds", "0"], "ds must be a nonzero"),
    ],
)
def test_bad_input_exits_with_a_message_and_no_file(
    arguments, message, tmp_path, capsys
):
    csv = tmp_path / "out.csv"
    assert main([*arguments, "--csv", str(csv)]) == 2
    assert message in capsys.readouterr().err
    assert not csv.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_toml_files(tmp_path, capsys):
    broken = tmp_path / "broken.toml"
    broken.write_text('variables = ["x"\n')
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(
        'variables = ["x"]\n[parameters]\np = 1.0\n[equations]\nx = "p - foo(x)"\n'
    )

    csv = tmp_path / "out.csv"
    for path in (broken, unknown):
        assert (
            main(["continue", str(path), "--range", "0", "1", "--csv", str(csv)]) == 2
        )
        assert "error" in capsys.readouterr().err

    assert not csv.exists()


def test_python_dash_m_runs_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "bifurc", "continue", "fold"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "LP" in result.stdout


# ----------------------------------------------------------------------
# The branch table and CSV written from Python


def test_branch_dataframe_places_special_points_between_their_neighbours():
    branch = problems.bratu2().run()
    table = branch.to_dataframe()
    assert list(table.columns[:7]) == [
        "branch",
        "point",
        "label",
        "kind",
        "a",
        "x",
        "y",
    ]

    assert table.columns[7] == "n_unstable"
    assert len(table) == len(branch) + 2
    for sp in branch.special_points[1:-1]:
        row = table.index[(table.label == sp.label)][0]
        assert table.a[row] == sp.value
        arclength = table.arclength
        assert arclength[row - 1] <= arclength[row] <= arclength[row + 1]

    assert table.label.iloc[0] == "EP" and table.label.iloc[-1] == "EP"
    assert (table.label == "").sum() == len(branch) - 2


def test_csv_round_trip_and_determinism(tmp_path):
    branch = problems.cusp().run()
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    branch.to_csv(first)
    problems.cusp().run().to_csv(second)
    assert first.read_bytes() == second.read_bytes()
    table = pd.read_csv(first, keep_default_na=False)

    regular = table[table.label == ""]
    assert np.array_equal(regular.x.astype(float), branch.x[1:-1, 0])


def test_failed_csv_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "branch.csv"
    path.write_text("old contents")
    branch = problems.fold().run()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        branch.to_csv(path)
    assert path.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["branch.csv"]


def test_summaries_are_readable():
    branch = problems.bratu2().run()
    text = str(branch)
    assert "Branch of bratu2 in a" in text and "LP" in text and "BP" in text
    diagram = bifurc.diagram(problems.pitchfork().system, [0.0], "p", (-1, 1))
    assert "branch 1 (from branch 0)" in str(diagram)
    assert "pitchfork" in str(diagram.special_points[0])
