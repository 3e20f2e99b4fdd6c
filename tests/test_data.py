"""The tables in data/ are what the code computes now, to the stated tolerance."""

import contextlib
import importlib.util
import io
import json
import shlex
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

import bifurc
import bifurc.models
from bifurc import cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "regenerate_data", ROOT / "scripts" / "regenerate_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


regenerate = _load_script()
EXAMPLES = regenerate.EXAMPLES


def test_every_stored_table_is_an_example_with_a_sidecar():
    stored = sorted(p.relative_to(DATA) for p in DATA.glob("*/*.csv"))
    assert stored == sorted(example.path for example in EXAMPLES)
    for example in EXAMPLES:
        sidecar = json.loads((DATA / example.path).with_suffix(".json").read_text())
        table = pd.read_csv(DATA / example.path)
        assert sidecar["file"] == example.path.as_posix()
        assert sidecar["model"] == example.model and sidecar["kind"] == example.kind
        assert bifurc.models.get(example.model).param == sidecar["param"]
        assert sidecar["rows"] == len(table) and sidecar["columns"] == list(table)
        assert sidecar["tolerance"] == {
            "rtol": regenerate.RTOL,
            "atol": regenerate.ATOL,
        }
        assert sidecar["bifurc_version"] and sidecar["command"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_regenerating_gives_the_stored_numbers(example, tmp_path):
    fresh = regenerate.produce(example, tmp_path)
    assert regenerate.compare_tables(DATA / example.path, fresh) == []


@pytest.mark.parametrize(
    "example",
    [
        regenerate.Example("fold", "diagram"),
        regenerate.Example("double-well", "sequence"),
    ],
    ids=lambda e: e.name,
)
def test_the_sidecar_command_produces_the_file(example, tmp_path):
    sidecar = json.loads((DATA / example.path).with_suffix(".json").read_text())
    words = shlex.split(sidecar["command"])
    assert words[0] == "bifurc"
    target = tmp_path / "table.csv"
    words[words.index("--csv") + 1] = str(target)

    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(words[1:]) == cli.EXIT_OK
    assert regenerate.compare_tables(DATA / example.path, target) == []


def _copy(tmp_path, example):
    copy = tmp_path / "stored" / example.path
    copy.parent.mkdir(parents=True)
    shutil.copy(DATA / example.path, copy)
    return copy


def test_comparison_fails_beyond_the_tolerance_only(tmp_path):
    example = regenerate.Example("cusp", "diagram")
    copy = _copy(tmp_path, example)
    table = pd.read_csv(copy, keep_default_na=False, na_values=[""])

    inside = table.copy()
    inside["x"] *= 1 + 0.1 * regenerate.RTOL
    inside.to_csv(copy, index=False)
    assert regenerate.compare_tables(DATA / example.path, copy) == []

    outside = table.copy()
    outside.loc[7, "x"] *= 1 + 10 * regenerate.RTOL
    outside.to_csv(copy, index=False)
    (problem,) = regenerate.compare_tables(DATA / example.path, copy)
    assert problem.startswith("x: 1 values differ, first in row 7")


def test_comparison_reports_text_and_shape(tmp_path):
    example = regenerate.Example("cusp", "diagram")
    copy = _copy(tmp_path, example)
    table = pd.read_csv(copy, keep_default_na=False, na_values=[""])

    relabelled = table.copy()
    relabelled.loc[3, "label"] = "BP"
    relabelled.to_csv(copy, index=False)
    assert regenerate.compare_tables(DATA / example.path, copy) == [
        "label: text differs in rows [3]"
    ]

    table.iloc[:-1].to_csv(copy, index=False)
    (problem,) = regenerate.compare_tables(DATA / example.path, copy)
    assert "rows stored" in problem


def test_check_mode_exit_status(tmp_path):
    example = regenerate.Example("fold", "diagram")
    copy = _copy(tmp_path, example)
    args = ["--check", "--only", example.name, "--out", str(tmp_path / "stored")]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert regenerate.main(args) == 0
    assert "ok" in out.getvalue()

    table = pd.read_csv(copy, keep_default_na=False, na_values=[""])
    table["p"] += 1e-3
    table.to_csv(copy, index=False)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert regenerate.main(args) == 1
    assert "DIFFERS" in out.getvalue()
