"""Numerical faults are statuses, user errors are chained, Ctrl-C keeps the work.

Every branch returned here, whatever went wrong during the run, must hold
only converged rest points: ``|f(x_i, p_i)|`` is checked at every stored
point, independently of the code that produced it.
"""

import math
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import problems
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bifurc
import bifurc.cli
import bifurc.models
from bifurc import BifurcError, Status, System, UserFunctionError

# Stored points are converged to newton_tol = 1e-10 in the update, so their
# residual is far below this (for the O(1) fields used here).
RESIDUAL_TOL = 1e-8

# Few examples each: every one is a whole continuation run.
RUNS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


def assert_converged_points(branch, scale=1.0):
    """Every stored point and every located special point is a rest point."""
    system = branch.system
    assert np.all(np.isfinite(branch.x)) and np.all(np.isfinite(branch.p))
    for i in range(len(branch)):
        residual = np.max(np.abs(system.f(branch.x[i], branch.params_at(i))))
        assert residual <= RESIDUAL_TOL * scale, (i, branch.p[i], residual)

    for point in branch.special_points:
        p = np.array(branch.p_fixed)
        p[branch.param_index] = point.value
        residual = np.max(np.abs(system.f(point.x, p)))
        assert residual <= RESIDUAL_TOL * scale, (point.label, point.value, residual)


def assert_special_points_inside(branch):
    """Located points lie between the branch points that bracket them."""
    for point in branch.special_points:
        if point.label == "EP":
            assert 0 <= point.index < len(branch)
            continue
        assert 0 <= point.index < len(branch) - 1, (point.label, point.index)
        low, high = branch.s[point.index], branch.s[point.index + 1]
        slack = 1e-9 * (1 + abs(high))
        assert low - slack <= point.data["arclength"] <= high + slack


def _outcome(run):
    """What ``run()`` returns, or the exception it raises (to check its type)."""
    try:
        return run()
    except Exception as exc:
        return exc


def _parameter_in(message, name):
    """The first ``name = value`` reported in a message, as a float."""
    match = re.search(rf"\b{name} = ([-+0-9.eE]+)", message)
    assert match, f"no '{name} = ...' in {message!r}"
    return float(match.group(1))


def _line_with_fault(fault, where=0.5, component="f", default=0.0):
    """``u' = p - u, v' = -v`` whose f (or f_x) turns `fault` for p > where."""

    def f(x, p):
        value = np.array([p[0] - x[0], -x[1]])
        if component == "f" and p[0] > where:
            value[1] = fault
        return value

    def jacobian(x, p):
        jac = -np.eye(2)
        if component == "jacobian" and p[0] > where:
            jac[1, 0] = fault
        return jac

    return System.from_callable(
        f,
        ["u", "v"],
        {"p": default},
        jacobian=jacobian,
        param_jacobian=lambda x, p: np.array([[1.0], [0.0]]),
    )


# ----------------------------------------------------------------------
# Non-finite values


@pytest.mark.parametrize("fault", [math.nan, math.inf, -math.inf])
def test_non_finite_f_stops_the_run_where_it_starts(fault):
    branch = bifurc.continuation(_line_with_fault(fault), [0.0, 0.0], "p", (-1, 1))

    assert branch.status is Status.NON_FINITE
    assert "'v'" in branch.message
    assert _parameter_in(branch.message, "p") == pytest.approx(0.5, abs=1e-6)
    assert 0.5 - 1e-6 <= branch.p.max() <= 0.5
    assert branch.p.min() == -1.0
    assert_converged_points(branch)
    assert_special_points_inside(branch)


def test_non_finite_jacobian_stops_the_run_where_it_starts():
    system = _line_with_fault(math.nan, component="jacobian")
    branch = bifurc.continuation(system, [0.0, 0.0], "p", (-1, 1))

    assert branch.status is Status.NON_FINITE
    assert "Jacobian" in branch.message
    assert _parameter_in(branch.message, "p") == pytest.approx(0.5, abs=1e-6)
    assert 0.5 - 1e-6 <= branch.p.max() <= 0.5
    assert_converged_points(branch)


def test_non_finite_jacobian_entry_is_named_by_its_variables():
    system = _line_with_fault(math.nan, component="jacobian")
    branch = bifurc.continuation(system, [0.0, 0.0], "p", (-1, 1))
    assert "'v'" in branch.message and "'u'" in branch.message


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_square_root_domain_inside_the_range():
    """``x' = sqrt(1 - p) - x``: the branch ends where the root stops being real."""
    system = System.from_callable(
        lambda x, p: np.array([np.sqrt(1.0 - p[0]) - x[0], -x[1]]),
        ["x", "y"],
        {"p": 0.0},
    )
    branch = bifurc.continuation(system, [1.0, 0.0], "p", (0, 2), direction="forward")

    assert branch.status is Status.NON_FINITE
    assert re.search(r"nan in (component|entry)", branch.message)
    assert _parameter_in(branch.message, "p") == pytest.approx(1.0, abs=1e-4)
    assert branch.p.max() <= 1.0
    assert branch.p.max() >= 1.0 - 1e-4
    assert_converged_points(branch)


def test_pole_inside_the_range_is_approached_but_never_crossed():
    """``x' = p + 0.01 / (p - 1/2) - x``: x -> -inf as p -> 1/2."""
    system = System.from_callable(
        lambda x, p: np.array([p[0] + 0.01 / (p[0] - 0.5) - x[0]]),
        ["x"],
        {"p": 0.0},
        jacobian=lambda x, p: np.array([[-1.0]]),
        param_jacobian=lambda x, p: np.array([[1.0 - 0.01 / (p[0] - 0.5) ** 2]]),
    )
    branch = bifurc.continuation(
        system, [-0.02], "p", (0, 1), direction="forward", max_steps=300
    )

    assert not branch.success
    assert np.all(branch.p < 0.5)
    assert branch.x[-1, 0] < -1e3
    assert_converged_points(branch, scale=1 + np.max(np.abs(branch.x)))


@RUNS
@given(
    where=st.floats(-0.8, 0.8),
    ds=st.floats(1e-3, 0.1),
    fault=st.sampled_from([math.nan, math.inf]),
    component=st.sampled_from(["f", "jacobian"]),
)
def test_non_finite_region_anywhere(where, ds, fault, component):
    system = _line_with_fault(fault, where, component, default=-1.0)
    branch = bifurc.continuation(system, [-1.0, 0.0], "p", (-1, 1), ds=ds, ds_max=0.1)

    assert branch.status is Status.NON_FINITE
    assert _parameter_in(branch.message, "p") == pytest.approx(where, abs=1e-6)
    assert where - 1e-6 <= branch.p.max() <= where
    assert_converged_points(branch)
    table = branch.to_dataframe()
    assert not table[["p", "u", "v", "n_unstable"]].isna().any().any()


# ----------------------------------------------------------------------
# Exceptions raised by user functions


def _raising_at_start(where):
    def f(x, p):
        if where == "f":
            raise ValueError("f cannot be evaluated here")
        return np.array([p[0] - x[0]])

    def jacobian(x, p):
        if where == "jacobian":
            raise ZeroDivisionError("no Jacobian here")
        return np.array([[-1.0]])

    return System.from_callable(
        f, ["u"], {"p": 0.25}, jacobian=jacobian, check_jacobian=False
    )


@pytest.mark.parametrize(
    ("where", "error"), [("f", ValueError), ("jacobian", ZeroDivisionError)]
)
def test_exception_at_the_start_is_chained_with_x_and_p(where, error):
    system = _raising_at_start(where)
    with pytest.raises(UserFunctionError) as info:
        bifurc.continuation(system, [0.125], "p", (-1, 1))

    assert isinstance(info.value.__cause__, error)
    message = str(info.value)
    assert error.__name__ in message
    assert "0.125" in message and "'u'" in message
    assert "0.25" in message and "'p'" in message


def test_non_finite_f_at_the_start_raises_a_package_error():
    system = _line_with_fault(math.nan, where=-10.0)
    outcome = _outcome(lambda: bifurc.continuation(system, [0.0, 0.0], "p", (-1, 1)))
    assert isinstance(outcome, BifurcError), repr(outcome)
    assert "'v'" in str(outcome)


def test_persistent_exception_inside_the_run_is_a_status():
    def f(x, p):
        if p[0] > 0.5:
            raise ArithmeticError("model undefined here")
        return np.array([p[0] - x[0]])

    system = System.from_callable(
        f, ["u"], {"p": 0.0}, jacobian=lambda x, p: np.array([[-1.0]])
    )
    branch = bifurc.continuation(system, [0.0], "p", (-1, 1))

    assert branch.status is Status.USER_ERROR
    assert "ArithmeticError" in branch.message
    assert "model undefined" in branch.message
    assert _parameter_in(branch.message, "p") == pytest.approx(0.5, abs=1e-5)
    assert 0.5 - 1e-5 <= branch.p.max() <= 0.5
    assert branch.p.min() == -1.0
    assert_converged_points(branch)


class _FailsOnce:
    """``x' = p - x - x^3`` that raises once, at call `at`."""

    def __init__(self, at, error=RuntimeError):
        self.at, self.error, self.calls = at, error, 0

    def __call__(self, x, p):
        self.calls += 1
        if self.calls == self.at:
            raise self.error("transient failure")
        return np.array([p[0] - x[0] - x[0] ** 3])


def _cubic(f):
    return System.from_callable(
        f,
        ["x"],
        {"p": 0.0},
        jacobian=lambda x, p: np.array([[-1.0 - 3.0 * x[0] ** 2]]),
        param_jacobian=lambda x, p: np.array([[1.0]]),
    )


def test_transient_exception_is_a_rejected_step():
    clean = bifurc.continuation(_cubic(_FailsOnce(0)), [0.0], "p", (-2, 2))
    flaky = _FailsOnce(40)
    branch = bifurc.continuation(_cubic(flaky), [0.0], "p", (-2, 2))

    assert flaky.calls > 40
    assert branch.status is Status.REACHED_BOUND
    assert branch.info["rejected"] > clean.info["rejected"]
    assert branch.p[0] == -2.0 and branch.p[-1] == 2.0
    assert_converged_points(branch)
    # The branch is x + x^3 = p: check it independently at every point.
    assert np.allclose(branch.x[:, 0] + branch.x[:, 0] ** 3, branch.p, atol=1e-10)


def _defined_for_positive_x():
    """``x' = 1 + p - x^2, y' = -y``, whose f raises for x < 0 (e.g. a log)."""

    def f(x, p):
        if x[0] < 0:
            raise ValueError("x must be non-negative")
        return np.array([1 + p[0] - x[0] ** 2, -x[1]])

    return System.from_callable(f, ["x", "y"], {"p": 0.0}, box=([-2, -2], [2, 2]))


def test_census_skips_starts_where_f_raises():
    census = bifurc.find_rest_points(_defined_for_positive_x(), [0.0])
    assert len(census) == 1
    np.testing.assert_allclose(census.rest_points[0].x, [1.0, 0.0], atol=1e-10)


def test_sequence_survives_a_model_undefined_in_part_of_the_box():
    sequence = bifurc.bifurcation_sequence(
        _defined_for_positive_x(), "p", (-0.5, 1.0), n_samples=4, connections=False
    )
    assert sequence.status is Status.SUCCESS
    assert len(sequence.events) == 0 and len(sequence.tracks) == 1


# ----------------------------------------------------------------------
# Newton near folds


@RUNS
@given(
    curvature=st.floats(0.01, 100.0),
    ds=st.floats(1e-3, 0.5),
    ds_max=st.floats(0.05, 2.0),
    lam=st.floats(1e-3, 1.0),
)
def test_no_unconverged_point_is_stored_near_folds(curvature, ds, ds_max, lam):
    """``x' = p + lam x - k x^3``: two folds, close together for small lam."""
    system = System.from_callable(
        lambda x, p: np.array([p[0] + lam * x[0] - curvature * x[0] ** 3, -x[1]]),
        ["x", "y"],
        {"p": -1.0},
        jacobian=lambda x, p: np.array(
            [[lam - 3 * curvature * x[0] ** 2, 0.0], [0.0, -1.0]]
        ),
        param_jacobian=lambda x, p: np.array([[1.0], [0.0]]),
    )
    x0 = np.roots([-curvature, 0.0, lam, -1.0])
    x0 = x0[np.abs(x0.imag) < 1e-9].real.max()
    branch = bifurc.continuation(
        system,
        [x0, 0.0],
        "p",
        (-1, 1),
        p0=-1.0,
        ds=min(ds, ds_max),
        ds_max=ds_max,
        max_steps=400,
    )

    assert_converged_points(branch, scale=1 + curvature)
    assert_special_points_inside(branch)
    assert np.all(np.diff(branch.s) > 0)
    fold = 2 * lam / 3 * math.sqrt(lam / (3 * curvature))
    for point in branch.special_points:
        if point.label == "LP" and point.converged:
            assert abs(point.value) == pytest.approx(fold, rel=1e-7, abs=1e-12)


# ----------------------------------------------------------------------
# Rest points that are not isolated


def _exchange(x, p):
    """Linear exchange between two pools: the total x + y is conserved."""
    flow = p[0] * x[0] - x[1]
    return np.array([-flow, flow])


def _dimerisation(x, p):
    """2A <-> B with rate p: the total a + 2b is conserved."""
    flow = p[0] * x[0] ** 2 - x[1]
    return np.array([-2 * flow, flow])


def _epidemic(x, p):
    """SIRS: the population s + i + r is conserved."""
    infection, recovery, loss = p[0] * x[0] * x[1], x[1], 0.5 * x[2]
    return np.array([loss - infection, infection - recovery, recovery - loss])


CONSERVED = [
    pytest.param(_exchange, [1.0, 2.0], id="exchange"),
    pytest.param(_dimerisation, [1.0, 2.0], id="dimerisation"),
    pytest.param(_epidemic, [0.5, 0.25, 0.5], id="epidemic"),
]


@pytest.mark.parametrize(
    ("f", "x0"), CONSERVED, ids=lambda v: getattr(v, "__name__", "")
)
def test_conserved_quantity_is_diagnosed_at_the_start(f, x0):
    names = ["a", "b", "c"][: len(x0)]
    system = System.from_callable(f, names, {"p": 2.0})
    x0 = np.array(x0)
    assert np.allclose(f(x0, [2.0]), 0)

    branch = _outcome(lambda: bifurc.continuation(system, x0, "p", (1.0, 3.0)))
    assert isinstance(branch, bifurc.Branch), repr(branch)
    assert branch.status is Status.DEGENERATE
    assert "conserv" in branch.message
    assert "reduc" in branch.message or "eliminat" in branch.message
    assert len(branch) <= 1
    assert not [sp for sp in branch.special_points if sp.label in ("BP", "LP")]
    assert branch.to_dataframe().shape[0] == len(branch)


def test_the_suggested_reduction_works():
    """With b = total - a the exchange system continues normally."""
    total = 2.0
    reduced = System.from_callable(
        lambda x, p: np.array([-(p[0] * x[0] - (total - x[0]))]), ["a"], {"p": 1.0}
    )
    branch = bifurc.continuation(reduced, [1.0], "p", (1.0, 3.0))
    assert branch.status is Status.REACHED_BOUND
    assert np.allclose(branch.x[:, 0], total / (1 + branch.p), atol=1e-10)


def test_conserved_quantity_in_a_diagram_is_a_status():
    system = System.from_callable(_exchange, ["a", "b"], {"p": 2.0})
    diagram = bifurc.diagram(system, [1.0, 2.0], "p", (1.0, 3.0))
    assert diagram.status is Status.DEGENERATE
    assert "conserv" in diagram.message


# ----------------------------------------------------------------------
# Interruption (Ctrl-C)


class _Interrupting:
    """Wraps f and raises KeyboardInterrupt once, at call `at` (one Ctrl-C)."""

    def __init__(self, f, at):
        self.f, self.at, self.calls = f, at, 0

    def __call__(self, x, p):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.f(x, p)

    @property
    def after(self):
        """Calls made after the interrupt (the work done despite Ctrl-C)."""
        return max(0, self.calls - self.at)


def _quartic(x, p):
    return np.array([p[0] + x[0] ** 2 - x[0] ** 4 / 10, -x[1] * (1 + x[0] ** 2)])


def _quartic_system(f):
    return System.from_callable(
        f,
        ["x", "y"],
        {"p": 0.5},
        jacobian=lambda x, p: np.array(
            [[2 * x[0] - 0.4 * x[0] ** 3, 0.0], [-2 * x[0] * x[1], -1 - x[0] ** 2]]
        ),
        param_jacobian=lambda x, p: np.array([[1.0], [0.0]]),
    )


_TOTALS = {}


def _count_calls(f, make_system, run):
    """Calls of f in a whole uninterrupted run (deterministic, so cached)."""
    key = (f, make_system, run.__qualname__)
    if key not in _TOTALS:
        probe = _Interrupting(f, -1)
        run(make_system(probe))
        _TOTALS[key] = probe.calls
    return _TOTALS[key]


@RUNS
@given(share=st.floats(0.05, 0.95))
def test_interrupted_continuation_returns_the_partial_branch(share):
    def run(system):
        return bifurc.continuation(system, [0.0, 0.0], "p", (-3, 3), p0=0.0)

    total = _count_calls(_quartic, _quartic_system, run)
    # The start (Newton, tangent) takes 15 calls; Ctrl-C there raises, as
    # nothing has been computed yet.  Interrupt after it.
    f = _Interrupting(_quartic, max(30, int(share * total)))
    branch = run(_quartic_system(f))

    assert branch.status is Status.INTERRUPTED
    assert "interrupted" in branch.message
    assert f.after <= 5
    assert len(branch) >= 1
    assert_converged_points(branch)
    assert_special_points_inside(branch)
    assert np.all(np.diff(branch.s) > 0)


def _interrupted_diagram(share):
    def run(system):
        return bifurc.diagram(system, [0.0, 0.0], "p", (-1, 4))

    total = _count_calls(problems.pitchforks_rhs, problems.pitchforks_system, run)
    f = _Interrupting(problems.pitchforks_rhs, int(share * total))
    return run(problems.pitchforks_system(f)), f


def test_interrupted_diagram_keeps_its_branches():
    diagram, _ = _interrupted_diagram(0.5)
    assert diagram.status is Status.INTERRUPTED
    assert any(b.status is Status.INTERRUPTED for b in diagram.branches)
    for branch in diagram.branches:
        assert_converged_points(branch)


@pytest.mark.parametrize("share", [0.02, 0.5])
def test_interrupted_diagram_stops_computing(share):
    diagram, f = _interrupted_diagram(share)
    assert diagram.status is Status.INTERRUPTED
    assert f.after <= 5


# Share of a whole run's calls of f that may still be made after Ctrl-C.
AFTER_INTERRUPT_SHARE = 0.03


def _sequence_run(system):
    return bifurc.bifurcation_sequence(
        system, "p", (-1.0, 4.0), n_samples=5, n_starts=8, connections=False
    )


@pytest.mark.parametrize("share", [0.05, 0.3, 0.6, 0.9])
def test_interrupted_sequence_returns_what_was_computed(share):
    total = _count_calls(
        problems.pitchforks_rhs, problems.pitchforks_system, _sequence_run
    )
    f = _Interrupting(problems.pitchforks_rhs, int(share * total))
    sequence = _sequence_run(problems.pitchforks_system(f))

    assert sequence.status is Status.INTERRUPTED
    assert "interrupted" in sequence.message
    # Assembling the result may polish a few points; no new census or branch.
    assert f.after <= AFTER_INTERRUPT_SHARE * total
    for branch in sequence.branches:
        assert_converged_points(branch)
    assert sequence.to_dataframe().shape[0] == len(sequence.events)


def _cli_run(command, f, folder, monkeypatch):
    """Run ``bifurc COMMAND interrupting-model --csv ...`` in this process."""
    entry = bifurc.models.ModelEntry(
        name="interrupting-pitchforks",
        summary="two pitchforks whose f raises KeyboardInterrupt once",
        builder=lambda: problems.pitchforks_system(f),
        param="p",
        p_range=(-1.0, 4.0),
        x0=(0.0, 0.0),
    )
    monkeypatch.setitem(bifurc.models._REGISTRY, entry.name, entry)
    csv, branches = folder / "result.csv", folder / "branches.csv"
    argv = [command, entry.name, "--csv", str(csv)]
    if command == "sequence":
        argv += ["--diagram", str(branches), "--samples", "5", "--no-progress"]
    return bifurc.cli.main(argv), csv, branches


@pytest.mark.parametrize("command", ["continue", "sequence"])
def test_interrupted_command_line_saves_what_was_computed(
    command, tmp_path, monkeypatch, capsys
):
    probe = _Interrupting(problems.pitchforks_rhs, -1)
    assert _cli_run(command, probe, tmp_path, monkeypatch)[0] == 0
    capsys.readouterr()

    f = _Interrupting(problems.pitchforks_rhs, probe.calls // 2)
    code, csv, branches = _cli_run(command, f, tmp_path, monkeypatch)
    out = capsys.readouterr().out

    assert code == bifurc.cli.EXIT_RUN
    assert "interrupted" in out
    assert f.after <= AFTER_INTERRUPT_SHARE * probe.calls
    saved = pd.read_csv(branches if command == "sequence" else csv)
    assert len(saved) >= 2
    assert np.all(np.isfinite(saved[["p", "u", "v"]].to_numpy()))
    assert csv.exists()


SIGINT_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import bifurc

    calls = 0

    def f(x, p):
        global calls
        calls += 1
        if calls == 300:
            print("running", flush=True)
        time.sleep(2e-4)
        return np.array([p[0] - x[0] - x[0] ** 3, -x[1]])

    system = bifurc.System.from_callable(f, ["x", "y"], {"p": 0.0})
    if sys.argv[1] == "continuation":
        result = bifurc.continuation(
            system, [0.0, 0.0], "p", (-1e9, 1e9), ds=1e-3, ds_max=1e-3,
            max_steps=10**7,
        )
    else:
        result = bifurc.bifurcation_sequence(
            system, "p", (-1e3, 1e3), n_samples=10**5, connections=False
        )
    print(result.status.code, flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
@pytest.mark.parametrize("what", ["continuation", "sequence"])
def test_real_ctrl_c_returns_an_interrupted_result(what):
    child = subprocess.Popen(
        [sys.executable, "-c", SIGINT_CHILD, what],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "running"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert out.strip() == "interrupted"


# ----------------------------------------------------------------------
# Wrong results that look right


def test_pitchfork_is_one_branch_point_on_each_branch():
    """``x' = p x - x^3, y' = -y``: one BP at the origin, nothing else."""
    system = System.from_callable(
        lambda x, p: np.array([p[0] * x[0] - x[0] ** 3, -x[1]]),
        ["x", "y"],
        {"p": -0.5},
        jacobian=lambda x, p: np.diag([p[0] - 3 * x[0] ** 2, -1.0]),
        param_jacobian=lambda x, p: np.array([[x[0]], [0.0]]),
    )
    diagram = bifurc.diagram(
        system, [0.0, 0.0], "p", (-0.5, 1.0), ds=0.015, ds_max=0.075
    )
    assert len(diagram.branches) == 2
    for branch in diagram.branches:
        located = [sp for sp in branch.special_points if sp.label != "EP"]
        assert [(sp.label, sp.kind) for sp in located] == [("BP", "pitchfork")]
        assert located[0].converged
        assert abs(located[0].value) < 1e-9
        assert np.max(np.abs(located[0].x)) < 1e-6


def test_diagram_switches_into_a_range_ending_just_past_the_branch_point():
    """The pitchfork's new branch x^2 = p fits in a range ending 1e-6 past it."""
    system = System.from_callable(
        lambda x, p: np.array([p[0] * x[0] - x[0] ** 3]),
        ["x"],
        {"p": -1.0},
        jacobian=lambda x, p: np.array([[p[0] - 3 * x[0] ** 2]]),
        param_jacobian=lambda x, p: np.array([[x[0]]]),
    )
    diagram = bifurc.diagram(system, [0.0], "p", (-1.0, 1e-6))
    assert [b.status for b in diagram.branches] == [Status.REACHED_BOUND] * 2
    new = diagram.branches[1]
    np.testing.assert_allclose(new.x[:, 0] ** 2, new.p, rtol=1e-6)
    np.testing.assert_allclose(new.x[[0, -1], 0], [-1e-3, 1e-3], rtol=1e-9)


def test_hopf_point_of_a_small_network_is_found():
    weights = np.array(problems.SMALL_NETWORK)
    values = np.linalg.eigvals(weights)
    pair = values[(values.imag > 1e-9) & (values.real > 0)]
    expected = sorted(1.0 / pair.real)
    real = values[np.abs(values.imag) <= 1e-9]
    branch_points = sorted(1.0 / real[real.real > 0.25].real)

    system = bifurc.models.hopfield(weights, beta=0.0)
    branch = bifurc.continuation(system, np.zeros(6), "beta", (0.0, 4.0))
    found = {
        label: sorted(sp.value for sp in branch.special_points if sp.label == label)
        for label in ("H", "BP")
    }
    np.testing.assert_allclose(found["BP"], branch_points, rtol=1e-9)
    assert len(found["H"]) == len(expected)
    np.testing.assert_allclose(found["H"], expected, rtol=1e-9)
