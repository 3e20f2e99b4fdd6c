"""The code passes the project's linter, and CI runs the README's test command."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINTED = ("bifurc", "tests", "benchmarks", "scripts")
TEST_COMMAND = (
    'python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]" '
    "&& .venv/bin/python -m pytest -q"
)


def test_ruff_check_passes():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed; install the test extras")
    targets = [name for name in LINTED if (ROOT / name).exists()]
    result = subprocess.run(
        [ruff, "check", *targets], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"    {TEST_COMMAND}\n" in readme
    assert 'bash -c "$command"' in ci
