"""The code passes the project's linter (ruff, 88 columns)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff():
    exe = shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed; install the test extras")
    return exe


def test_ruff_check_passes():
    targets = [p for p in ("bifurc", "tests", "benchmarks", "scripts") if (ROOT / p).exists()]
    result = subprocess.run(
        [_ruff(), "check", *targets], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash -c \"$command\"" in ci
    assert '.venv/bin/pip install -q -e ".[test]" && .venv/bin/python -m pytest' in readme
    assert sys.version_info >= (3, 11)
