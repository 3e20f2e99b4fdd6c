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
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bifurc
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
        low, high = sorted(branch.p[point.index : point.index + 2])
        slack = 1e-9 * (1 + abs(point.value))
        assert low - slack <= point.value <= high + slack


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


@pytest.mark.xfail(
    strict=True,
    reason="a non-finite Jacobian entry is reported by its flat index "
    "('entry 2'), not by the variables of its row and column",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="NaN from f at the start point escapes continuation() as the "
    "private _newton.StepFailure instead of a BifurcError",
)
def test_non_finite_f_at_the_start_raises_a_package_error():
    system = _line_with_fault(math.nan, where=-10.0)
    with pytest.raises(BifurcError, match="'v'"):
        bifurc.continuation(system, [0.0, 0.0], "p", (-1, 1))


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
    (_exchange, [1.0, 2.0]),
    (_dimerisation, [1.0, 2.0]),
    (_epidemic, [0.5, 0.25, 0.5]),
]


@pytest.mark.parametrize(
    ("f", "x0"), CONSERVED, ids=lambda v: getattr(v, "__name__", "")
)
def test_conserved_quantity_is_diagnosed_at_the_start(f, x0):
    names = ["a", "b", "c"][: len(x0)]
    system = System.from_callable(f, names, {"p": 2.0})
    x0 = np.array(x0)
    assert np.allclose(f(x0, [2.0]), 0)

    branch = bifurc.continuation(system, x0, "p", (1.0, 3.0))
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


def _count_calls(f, make_system, run):
    probe = _Interrupting(f, -1)
    run(make_system(probe))
    return probe.calls


@RUNS
@given(share=st.floats(0.05, 0.95))
def test_interrupted_continuation_returns_the_partial_branch(share):
    def run(system):
        return bifurc.continuation(system, [0.0, 0.0], "p", (-3, 3), p0=0.0)

    total = _count_calls(_quartic, _quartic_system, run)
    f = _Interrupting(_quartic, max(30, int(share * total)))
    branch = run(_quartic_system(f))

    assert branch.status is Status.INTERRUPTED
    assert "interrupted" in branch.message
    assert f.after <= 5
    assert len(branch) >= 1
    assert_converged_points(branch)
    assert_special_points_inside(branch)
    assert np.all(np.diff(branch.s) > 0)


def _pitchforks_system(f):
    """u' = p u - u^3, v' = (p/2 - 1) v - v^3: BPs at p = 0 and p = 2."""

    def jacobian(x, p):
        return np.diag([p[0] - 3 * x[0] ** 2, 0.5 * p[0] - 1 - 3 * x[1] ** 2])

    return System.from_callable(
        f,
        ["u", "v"],
        {"p": -1.0},
        jacobian=jacobian,
        param_jacobian=lambda x, p: np.array([[x[0]], [0.5 * x[1]]]),
        box=([-3.0, -3.0], [3.0, 3.0]),
    )


def _pitchforks(x, p):
    return np.array([p[0] * x[0] - x[0] ** 3, (0.5 * p[0] - 1) * x[1] - x[1] ** 3])


def _interrupted_diagram(share):
    def run(system):
        return bifurc.diagram(system, [0.0, 0.0], "p", (-1, 4))

    total = _count_calls(_pitchforks, _pitchforks_system, run)
    f = _Interrupting(_pitchforks, int(share * total))
    return run(_pitchforks_system(f)), f


def test_interrupted_diagram_keeps_its_branches():
    diagram, _ = _interrupted_diagram(0.5)
    assert diagram.status is Status.INTERRUPTED
    assert any(b.status is Status.INTERRUPTED for b in diagram.branches)
    for branch in diagram.branches:
        assert_converged_points(branch)


@pytest.mark.xfail(
    strict=True,
    reason="diagram() goes on switching branches after a branch comes back "
    "INTERRUPTED, so Ctrl-C does not stop it",
)
@pytest.mark.parametrize("share", [0.02, 0.5])
def test_interrupted_diagram_stops_computing(share):
    diagram, f = _interrupted_diagram(share)
    assert diagram.status is Status.INTERRUPTED
    assert f.after <= 5


def _sequence_run(system):
    return bifurc.bifurcation_sequence(
        system, "p", (-1.0, 4.0), n_samples=5, n_starts=8, connections=False
    )


@pytest.mark.parametrize("share", [0.05, 0.3, 0.6, 0.9])
def test_interrupted_sequence_returns_what_was_computed(share):
    total = _count_calls(_pitchforks, _pitchforks_system, _sequence_run)
    f = _Interrupting(_pitchforks, int(share * total))
    sequence = _sequence_run(_pitchforks_system(f))

    assert sequence.status is Status.INTERRUPTED
    assert "interrupted" in sequence.message
    assert f.after <= 20
    for branch in sequence.branches:
        assert_converged_points(branch)
    assert sequence.to_dataframe().shape[0] == len(sequence.events)


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


def _random_network(rng, symmetric, with_bias):
    n = int(rng.integers(2, 51))
    weights = rng.standard_normal((n, n)) / np.sqrt(n) * rng.uniform(0.5, 3)
    if symmetric:
        weights = (weights + weights.T) / 2
    bias = rng.standard_normal(n) * (rng.uniform(0, 1) if with_bias else 0.0)
    return weights, bias


@pytest.mark.xfail(
    strict=True,
    reason="diagram() summarises branch statuses with _SEVERITY.index, which "
    "lacks Status.FAILED: a failed switch raises ValueError",
)
def test_diagram_survives_a_failed_branch_switch():
    rng = np.random.default_rng(0)
    for trial in range(6):
        weights, bias = _random_network(rng, trial % 2 == 0, trial % 4 >= 2)
    system = bifurc.models.hopfield(weights, bias, beta=0.0)
    diagram = bifurc.diagram(
        system,
        bias,
        "beta",
        (0.0, 4.0),
        max_steps=80,
        ds=0.05,
        ds_max=0.2,
        max_depth=1,
    )
    assert any(b.status is Status.FAILED for b in diagram.branches)
    assert not diagram.status.success
