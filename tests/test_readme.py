"""The examples in README.md run and give the numbers they promise."""

import re
from pathlib import Path

import numpy as np

import bifurc

README = Path(__file__).resolve().parents[1] / "README.md"

# The cusp x' = mu + x - x^3 folds where 1 - 3x^2 = 0, at mu = -+2/(3 sqrt 3).
CUSP_FOLD = 2 / (3 * np.sqrt(3))


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def test_python_example_runs_and_finds_the_cusp_folds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (code,) = _blocks("python")
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)

    folds = [sp.value for sp in namespace["branch"].special_points if sp.label == "LP"]
    np.testing.assert_allclose(sorted(folds), [-CUSP_FOLD, CUSP_FOLD], rtol=1e-9)
    assert (tmp_path / "cusp.csv").stat().st_size > 0
    assert len(namespace["seq"].table) > 0


def test_model_file_example_loads(tmp_path):
    (text,) = _blocks("toml")
    path = tmp_path / "cusp.toml"
    path.write_text(text)
    system = bifurc.load_model(path)

    assert system.variables == ("x",)
    assert system.params == {"mu": 0.0, "lam": 1.0}
    np.testing.assert_allclose(system.f(np.array([2.0]), system.defaults), [-6.0])
