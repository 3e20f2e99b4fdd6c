"""Continuation of rest points: branches, statuses, options and bad input."""

import dataclasses

import numpy as np
import problems
import pytest
from invariants import check_branch

import bifurc
from bifurc import ContinuationOptions, InputError, Status


def located(branch, label=None):
    """Special points other than the end points (optionally of one label)."""
    return [
        sp
        for sp in branch.special_points
        if sp.label != "EP" and (label is None or sp.label == label)
    ]


def simple_fold(**kwargs):
    return bifurc.System.from_equations(["p - x**2"], ["x"], {"p": 1.0}, **kwargs)


# ----------------------------------------------------------------------
# The reference catalogue


@pytest.mark.parametrize(
    "name",
    [
        "fold",
        "pitchfork",
        "subcritical",
        "transcritical",
        "cusp",
        "enzyme",
        "bratu2",
        "hopfield",
        "bratu1d",
    ],
)
def test_catalogue_branch_has_its_special_points(name):
    problem = problems.CATALOGUE[name]()
    branch = problem.run()
    check_branch(branch)
    assert branch.status is Status.REACHED_BOUND

    found = located(branch)
    assert len(found) == len(problem.expected), [str(sp) for sp in found]
    for expected in problem.expected:
        match = min(found, key=lambda sp: abs(sp.value - expected.value))
        assert match.label == expected.label
        assert match.converged
        assert match.value == pytest.approx(
            expected.value, rel=expected.rtol, abs=1e-12
        )
        if expected.kind:
            assert match.kind == expected.kind


def test_branch_is_ordered_by_arclength_through_the_start():
    branch = problems.fold().run()
    assert branch.p[0] == pytest.approx(2.0) and branch.p[-1] == pytest.approx(2.0)
    assert branch.x[0, 0] < 0 < branch.x[-1, 0]
    assert branch.s[0] == 0.0
    # Both ends reached the bound; the end points say so.
    ends = branch.special_points[0], branch.special_points[-1]
    assert [sp.data["status"] for sp in ends] == ["reached_bound", "reached_bound"]


def test_stability_along_the_fold():
    branch = problems.fold().run()
    stable = branch.x[:, 0] > 1e-9
    unstable = branch.x[:, 0] < -1e-9
    assert np.all(branch.n_unstable[stable] == 0)
    assert np.all(branch.n_unstable[unstable] == 1)


def test_forward_and_backward_directions():
    problem = problems.cusp()
    forward = problem.run(direction="forward")
    backward = problem.run(direction="backward", p0=None)
    check_branch(forward)
    check_branch(backward)
    assert forward.p[0] == pytest.approx(-2.0)

    assert backward.p[-1] == pytest.approx(-2.0)
    assert len(located(backward)) == 0
    assert len(located(forward)) == 2


def test_negative_ds_swaps_forward_and_backward():
    problem = problems.cusp()
    branch = problem.run(direction="forward", ds=-0.01)
    assert len(branch) == 1 or np.all(branch.p <= -2.0 + 1e-12)


def test_start_on_the_boundary_proceeds_into_the_interval():
    system = simple_fold()
    branch = bifurc.continuation(system, [1.0], "p", (1.0, 2.0))
    check_branch(branch)
    assert branch.p.min() == pytest.approx(1.0)
    assert branch.p.max() == pytest.approx(2.0)
    assert branch.status is Status.REACHED_BOUND


def test_start_correction_is_reported():
    system = simple_fold()
    branch = bifurc.continuation(system, [1.1], "p", (0.5, 2.0))
    assert branch.info["start_correction"] == pytest.approx(0.1, rel=1e-8)
    assert "corrected by Newton" in branch.message


def test_start_that_cannot_be_corrected_states_the_residual():
    system = simple_fold()
    with pytest.raises(bifurc.ConvergenceError, match=r"max \|f\| = 1"):
        bifurc.continuation(system, [0.0], "p", (-2.0, 2.0), p0=-1.0)


def test_other_parameters_and_p0():
    system = bifurc.System.from_equations(["p - q*x**2"], ["x"], {"p": 1.0, "q": 1.0})
    branch = bifurc.continuation(
        system, [1.0], "p", (-1.0, 4.0), p0=4.0, params={"q": 4.0}
    )
    check_branch(branch)
    assert branch.p_fixed[1] == 4.0

    assert np.allclose(4 * branch.x[:, 0] ** 2, branch.p, atol=1e-10)


def test_weighted_norm_handles_badly_scaled_variables():
    # x ~ 1e6 and y ~ 1e-3 at the fold; the fold is at p = 0.
    system = bifurc.System.from_equations(
        ["p - (x/1e6)**2", "1e-3*x/1e6 - y"], ["x", "y"], {"p": 1.0}
    )
    branch = bifurc.continuation(system, [1e6, 1e-3], "p", (-1.0, 2.0))
    check_branch(branch)
    (fold,) = located(branch, "LP")

    assert fold.value == pytest.approx(0.0, abs=1e-12)
    assert branch.info["steps"] < 400


def test_sparse_and_dense_jacobians_agree():
    sparse = problems.bratu1d(n=30, sparse=True).run()
    dense = problems.bratu1d(n=30, sparse=False).run()
    check_branch(sparse)
    (a,), (b,) = located(sparse, "LP"), located(dense, "LP")
    assert a.value == pytest.approx(b.value, rel=1e-11)
    assert a.value == pytest.approx(problems.bratu1d_fold(30), rel=1e-9)


def test_parity_stability_mode_matches_the_inertia():
    # Inertia only where det f_x changes sign: the counts agree with the
    # per-point inertia along a branch with two pitchforks.
    problem = problems.hopfield()
    every = problem.run(options=ContinuationOptions(stability="inertia"))
    parity = problem.run(options=ContinuationOptions(stability="parity"))
    check_branch(parity)
    assert np.array_equal(every.n_unstable, parity.n_unstable)
    assert problems.bratu1d().run().info["stability"] == "parity"


def test_parity_is_the_default_for_dense_symmetric_systems_above_64():
    # Above 64 variables a symmetric dense system carries the inertia where
    # det f_x keeps its sign, and recomputes it every few points: the counts
    # equal those of all eigenvalues at every point of a branch with folds.
    system = problems.benchmark_hopfield(100).system
    primary = problems.benchmark_hopfield(100).run(p0=0.1, detect=())
    top = -primary.x[-1]
    x, converged, _ = bifurc.find_equilibrium(system, top, {"beta": 3.0})
    assert converged

    runs = [
        bifurc.continuation(
            system, x, "beta", (0.1, 3.0), p0=3.0, detect=("LP",), options=options
        )
        for options in (None, ContinuationOptions(stability="eigenvalues"))
    ]
    assert runs[0].info["stability"] == "parity"
    assert np.array_equal(runs[0].n_unstable, runs[1].n_unstable)
    assert np.ptp(runs[0].n_unstable) > 0
    check_branch(runs[0])


def test_stability_function():
    # On the symmetric branch of bratu2 the eigenvalues are x - 1 and x - 3.
    system = problems.bratu2().system
    n_unstable, values = bifurc.stability(system, [2.0, 2.0], {"a": 2 / np.e**2})
    assert values.shape == (2,)
    assert np.allclose(values.real, [1.0, -1.0], atol=1e-12)
    assert n_unstable == 1
    n_unstable, _ = bifurc.stability(system, [0.5, 0.5], {"a": 0.5 / np.exp(0.5)})

    assert n_unstable == 0


def test_find_equilibrium():
    system = simple_fold()
    x, converged, residual = bifurc.find_equilibrium(system, [3.0], [4.0])
    assert converged and residual < 1e-12
    assert x[0] == pytest.approx(2.0, rel=1e-14)
    x, converged, _ = bifurc.find_equilibrium(system, [3.0], {"p": -1.0})
    assert not converged


# ----------------------------------------------------------------------
# How runs end


def test_max_steps():
    branch = problems.fold().run(max_steps=5)
    assert branch.status is Status.MAX_STEPS
    assert len(branch) == 11
    assert "max_steps" in branch.message
    check_branch(branch)


def test_closed_branch():
    # Rest points on the circle x^2 + p^2 = 1 (and y = 0).
    system = bifurc.System.from_equations(
        ["x**2 + p**2 - 1", "-y"], ["x", "y"], {"p": 0.0}
    )
    branch = bifurc.continuation(system, [1.0, 0.0], "p", (-2.0, 2.0), ds_max=0.05)
    assert branch.status is Status.CLOSED
    assert np.ptp(branch.p) == pytest.approx(2.0, rel=1e-3)

    assert np.linalg.norm(branch.x[-1] - branch.x[0]) < 0.1
    assert len(located(branch, "LP")) == 2
    check_branch(branch)


def test_non_finite_f_names_the_parameter_and_the_component():
    def f(x, p):
        value = p[0] - x[0] ** 2
        return np.array([value if p[0] < 1.5 else np.nan, -x[1]])

    system = bifurc.System.from_callable(
        f, ["x", "y"], {"p": 1.0}, param_jacobian=lambda x, p: np.array([[1.0], [0.0]])
    )
    branch = bifurc.continuation(
        system, [1.0, 0.0], "p", (0.5, 3.0), direction="forward"
    )

    assert branch.status is Status.NON_FINITE
    assert "component 'x'" in branch.message and "at p = 1.5" in branch.message
    assert branch.p.max() < 1.5
    check_branch(branch)


def test_nan_at_a_trial_point_shrinks_the_step():
    # f is undefined beyond x = 1.2 only: the run must step around it.
    def f(x, p):
        return np.array([p[0] - x[0] ** 2 + (0.0 if x[0] < 1.3 else np.nan)])

    system = bifurc.System.from_callable(f, ["x"], {"p": 1.0})
    branch = bifurc.continuation(system, [1.0], "p", (0.0, 1.68), ds_max=0.5)
    assert branch.status is Status.REACHED_BOUND
    check_branch(branch)


def test_user_function_raising_persistently():
    def f(x, p):
        if p[0] > 2.0:
            raise ZeroDivisionError("model undefined")
        return np.array([p[0] - x[0] ** 2])

    system = bifurc.System.from_callable(f, ["x"], {"p": 1.0})
    branch = bifurc.continuation(system, [1.0], "p", (0.5, 3.0), direction="forward")
    assert branch.status is Status.USER_ERROR
    assert "ZeroDivisionError" in branch.message
    assert branch.p.max() <= 2.0
    check_branch(branch)


def test_keyboard_interrupt_returns_the_partial_branch():
    calls = {"n": 0}

    def f(x, p):
        calls["n"] += 1
        if calls["n"] == 60:
            raise KeyboardInterrupt

        return np.array([p[0] - x[0] ** 2])

    system = bifurc.System.from_callable(f, ["x"], {"p": 1.0})
    branch = bifurc.continuation(system, [1.0], "p", (0.5, 3.0))
    assert branch.status is Status.INTERRUPTED
    assert 1 < len(branch)
    check_branch(branch)


def test_step_below_ds_min():
    # A vertical cliff: f jumps, Newton cannot converge past p = 1.5.
    def f(x, p):
        return np.array([p[0] - x[0] ** 2 + (1.0 if p[0] > 1.5 else 0.0)])

    system = bifurc.System.from_callable(f, ["x"], {"p": 1.0})
    branch = bifurc.continuation(
        system, [1.0], "p", (0.5, 3.0), direction="forward", ds_min=1e-6
    )
    assert branch.status is Status.STEP_TOO_SMALL
    assert "ds_min" in branch.message

    check_branch(branch)


def test_conserved_quantity_is_diagnosed_at_the_start():
    # x + y is conserved: the rest points form a line for every p.
    system = bifurc.System.from_equations(
        ["p*y - x", "x - p*y"], ["x", "y"], {"p": 1.0}
    )
    branch = bifurc.continuation(system, [1.0, 1.0], "p", (0.5, 2.0))
    assert branch.status is Status.DEGENERATE
    assert "conserved" in branch.message and "eliminate" in branch.message

    assert len(branch) == 1


# ----------------------------------------------------------------------
# Options and bad input


def test_options_object_and_keyword_overrides():
    options = ContinuationOptions(ds=0.05, ds_max=0.2, detect=("LP",))
    branch = problems.bratu2().run(options=options, ds_max=0.05)
    used = branch.info["options"]
    assert used.ds == 0.05 and used.ds_max == 0.05 and used.detect == ("LP",)
    assert [sp.label for sp in located(branch)] == ["LP"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ds": 0.0}, "ds must be a nonzero"),
        ({"ds": 1.0, "ds_max": 0.1}, "ds_min <= |ds| <= ds_max"),
        ({"ds_min": -1.0}, "ds_min must be a positive"),
        ({"direction": "up"}, "direction must be one of"),
        ({"detect": ("LP", "XX")}, "detect may contain only"),
        ({"max_steps": 0}, "max_steps must be a positive integer"),
        ({"stability": "magic"}, "stability must be one of"),
        ({"state_scale": (1.0, -2.0)}, "state_scale must be positive"),
    ],
)
def test_inconsistent_options(settings, message):
    with pytest.raises(InputError, match=message.replace("|", r"\|")):
        ContinuationOptions(**settings)


def test_inertia_needs_a_symmetric_jacobian():
    with pytest.raises(InputError, match="needs a symmetric Jacobian"):
        problems.bratu2().run(options=ContinuationOptions(stability="inertia"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p0": 5.0}, r"outside the range \[-1, 2\]"),
        ({"p0": float("nan")}, "p0 must be finite"),
        ({"p_range": (1.0, 1.0)}, "two distinct finite numbers"),
        ({"p_range": (0.0, float("inf"))}, "two distinct finite numbers"),
        ({"param": "q"}, r"unknown parameter 'q'.*\['p'\]"),
        ({"params": {"pp": 1.0}}, r"unknown parameter 'pp'.*did you mean 'p'"),
        ({"x0": [1.0, 2.0]}, r"x0 must have shape \(1,\)"),
        ({"x0": [np.nan]}, "x0 must be finite"),
        ({"ds": 0}, "ds must be a nonzero"),
    ],
)
def test_bad_input(kwargs, message):
    arguments = {"x0": [1.0], "param": "p", "p_range": (-1.0, 2.0)} | kwargs
    with pytest.raises(InputError, match=message):
        bifurc.continuation(simple_fold(), **arguments)


def test_wrong_shapes_from_f_and_the_jacobian():
    bad_f = bifurc.System.from_callable(lambda x, p: np.zeros(2), ["x"], {"p": 0.0})
    with pytest.raises(InputError, match=r"shape \(1,\)"):
        bifurc.continuation(bad_f, [0.0], "p", (-1.0, 1.0))

    bad_jac = bifurc.System.from_callable(
        lambda x, p: p - x**2,
        ["x"],
        {"p": 1.0},
        jacobian=lambda x, p: np.zeros((2, 2)),
        check_jacobian=False,
    )

    with pytest.raises(InputError, match=r"shape \(1, 1\)"):
        bifurc.continuation(bad_jac, [1.0], "p", (-1.0, 2.0))


def test_function_raising_at_the_start_is_chained_with_x_and_p():
    def f(x, p):
        raise RuntimeError("boom")

    system = bifurc.System.from_callable(f, ["x"], {"p": 0.25})
    with pytest.raises(bifurc.UserFunctionError, match="boom") as info:
        bifurc.continuation(system, [0.5], "p", (-1.0, 1.0))
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "0.5" in str(info.value) and "0.25" in str(info.value)


def test_options_must_be_an_options_object():
    with pytest.raises(InputError, match="ContinuationOptions"):
        bifurc.continuation(simple_fold(), [1.0], "p", (0, 2), options={"ds": 0.1})


def test_frozen_options_and_results():
    options = ContinuationOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.ds = 1.0
    branch = problems.fold().run()

    with pytest.raises(dataclasses.FrozenInstanceError):
        branch.status = Status.FAILED
