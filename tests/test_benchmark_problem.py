"""The Hopfield benchmark problem: its definition, its folds, and the script.

The second branch of the benchmark problem (Newton at beta = 3 from minus the
primary branch's state, continued down in beta) folds once for n = 10 and
three times for n = 100.  Each located fold is checked against Newton on the
Moore-Spence extended system written here with dense linear algebra, and by
the singular values of f_x at the located point.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bifurc

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

BETA_START, BETA_END = 0.1, 3.0


def _load(name):
    """A module of the benchmarks folder (not a package)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", BENCHMARKS / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def problems():
    return _load("problems")


def stated_problem(n):
    """W, b and f exactly as the benchmark problem is worded."""
    rng = np.random.default_rng(20240501)
    a = rng.standard_normal((n, n))
    w = (a + a.T) / np.sqrt(2 * n)
    np.fill_diagonal(w, 0.0)
    b = 0.05 * rng.standard_normal(n)
    return w, b


def moore_spence(w, b, x, beta, tol=1e-14):
    """Fold of x' = -x + W tanh(beta x) + b by Newton on the extended system.

    Unknowns (x, φ, beta) with f = 0, f_x φ = 0, c.φ = 1 (Moore & Spence 1980);
    every derivative written out here.
    """
    n = x.size
    phi = np.linalg.svd(-np.eye(n) + beta * w * (1 - np.tanh(beta * x) ** 2))[2][-1]
    c = phi.copy()
    for _ in range(30):
        t = np.tanh(beta * x)
        s, curv = 1 - t**2, -2 * t * (1 - t**2)
        jac = -np.eye(n) + beta * w * s
        f_beta = w @ (x * s)
        # d(f_x phi)/dx and d(f_x phi)/dbeta, from f_x phi = -phi + beta W (s phi).
        jphi_x = beta**2 * w * (curv * phi)
        jphi_beta = w @ (s * phi + beta * curv * x * phi)

        big = np.zeros((2 * n + 1, 2 * n + 1))
        big[:n, :n], big[:n, -1] = jac, f_beta
        big[n:-1, :n], big[n:-1, n:-1], big[n:-1, -1] = jphi_x, jac, jphi_beta
        big[-1, n:-1] = c
        residual = np.concatenate([-x + w @ t + b, jac @ phi, [c @ phi - 1]])
        step = np.linalg.solve(big, -residual)
        x, phi, beta = x + step[:n], phi + step[n:-1], beta + step[-1]
        if np.linalg.norm(step) < tol * max(1.0, np.linalg.norm(x)):
            return beta, x
    raise AssertionError("the extended system did not converge")


def branches(system, bias):
    """The primary branch (beta from 0.1 to 3) and the second branch."""
    p = system.parameter_vector({"beta": BETA_START})
    x = bifurc.find_equilibrium(system, bias, p)[0]
    interval = (BETA_START, BETA_END)
    primary = bifurc.continuation(system, x, "beta", interval, p0=BETA_START)

    p3 = system.parameter_vector({"beta": BETA_END})
    top = bifurc.find_equilibrium(system, primary.x[-1], p3)[0]
    start = bifurc.find_equilibrium(system, -top, p3)[0]
    second = bifurc.continuation(system, start, "beta", interval, p0=BETA_END)
    return primary, second


def turning_points(branch):
    """Number of sign changes of the parameter's increments along the branch."""
    steps = np.diff(branch.p)
    steps = steps[steps != 0]
    return int(np.count_nonzero(np.sign(steps[1:]) != np.sign(steps[:-1])))


def test_benchmark_system_is_the_stated_problem(problems):
    n = 12
    w, b = stated_problem(n)
    system = problems.hopfield_benchmark(n)
    rng = np.random.default_rng(7)
    x, beta = rng.standard_normal(n), 1.7
    p = system.parameter_vector({"beta": beta})

    assert_allclose(system.f(x, p), -x + w @ np.tanh(beta * x) + b, rtol=1e-14)
    jac = -np.eye(n) + beta * w * (1 - np.tanh(beta * x) ** 2)
    assert_allclose(system.fx(x, p), jac, rtol=1e-14, atol=1e-15)
    assert_allclose(
        system.fp(x, p, 0), w @ (x * (1 - np.tanh(beta * x) ** 2)), rtol=1e-13
    )

    sym = system.symmetrizer(x, p)
    assert_allclose(sym, sym.T, rtol=0, atol=0)
    eig = np.sort(np.linalg.eigvals(jac).real)
    assert_allclose(np.linalg.eigvalsh(sym), eig, rtol=1e-12, atol=1e-12)


def test_nonsymmetric_variant_is_reproducible(problems):
    w, b = problems.hopfield_weights(8, symmetric=False)
    rng = np.random.default_rng(20240501)
    a = rng.standard_normal((8, 8))
    assert_allclose(w, (a - np.diag(np.diag(a))) / np.sqrt(8), rtol=1e-15)
    assert_allclose(b, 0.05 * rng.standard_normal(8), rtol=0, atol=0)
    assert problems.hopfield_benchmark(8, symmetric=False).symmetrizer is None


@pytest.mark.parametrize(("n", "n_folds"), [(10, 1), (100, 3)])
def test_second_branch_folds_are_located_to_1e_8(problems, n, n_folds):
    w, b = stated_problem(n)
    primary, second = branches(problems.hopfield_benchmark(n), b)
    assert not [q for q in primary.special_points if q.label == "LP"]
    assert turning_points(primary) == 0
    assert primary.p[-1] == pytest.approx(BETA_END, abs=1e-10)

    folds = [q for q in second.special_points if q.label == "LP"]
    assert len(folds) == n_folds
    assert turning_points(second) == n_folds
    for fold in folds:
        reference, x_ref = moore_spence(w, b, np.asarray(fold.x), fold.value)
        assert fold.value == pytest.approx(reference, rel=1e-8)

        jac = -np.eye(n) + fold.value * w * (1 - np.tanh(fold.value * fold.x) ** 2)
        singular = np.linalg.svd(jac, compute_uv=False)
        assert singular[-1] < 1e-6 * singular[0]
        assert np.linalg.norm(-fold.x + w @ np.tanh(fold.value * fold.x) + b) < 1e-10
        assert_allclose(fold.x, x_ref, rtol=0, atol=1e-4)


def _run_script(*options):
    command = [sys.executable, str(BENCHMARKS / "run.py"), *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_quick_benchmarks_run_and_print_every_column(tmp_path):
    out = tmp_path / "records.json"
    stdout = _run_script("--quick", "--in-process", "--json", str(out))

    header = stdout.splitlines()[0].split()
    for column in ("points", "CPU", "wall", "pts/s", "ms/pt", "LU", "ratio", "peak"):
        assert column in header
    for name in ("cusp", "hopfield-10", "hopfield-100", "modern-hopfield", "bratu-30"):
        assert name in stdout
    assert "FAILED" not in stdout and "Machine:" in stdout

    payload = json.loads(out.read_text())
    assert all(rec["folds_ok"] for rec in payload["records"])
    table = _load("report").markdown(payload["records"], payload["machine"])
    assert table.startswith("| case | branch | n | points | CPU s | wall s |")


def test_a_case_runs_in_its_own_process_and_prints_markdown():
    stdout = _run_script("--cases", "cusp", "--quick", "--markdown")
    row = next(line for line in stdout.splitlines() if line.startswith("| cusp |"))
    assert "LP 0.3849001795" in row and "LP -0.3849001795" in row
    assert "ru_maxrss" in stdout and "BLAS:" in stdout


def test_report_shows_skipped_and_failed_branches():
    report = _load("report")
    records = [
        {"case": "a", "branch": "second", "n": 3, "skipped": "no start"},
        {"case": "b", "branch": "-", "n": 4, "error": "exit 1: boom"},
    ]
    text = report.text(records)
    assert "skipped: no start" in text and "FAILED: exit 1: boom" in text
    table = report.markdown(records, report.machine_summary(records))
    assert "| a | second | 3 | skipped: no start |" in table
    assert "| b | - | 4 | failed: exit 1: boom |" in table
