"""Special points: folds, branch points and Hopf points against references."""

import math

import numpy as np
import problems
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st
from invariants import check_branch

import bifurc
import bifurc.models
from bifurc import Status

# Located special points must match their references to this relative size.
RTOL = 1e-9


def located(branch, label=None):
    return [
        sp
        for sp in branch.special_points
        if sp.label != "EP" and (label is None or sp.label == label)
    ]


def test_cusp_folds():
    branch = problems.cusp().run()
    check_branch(branch)
    values = sorted(sp.value for sp in located(branch, "LP"))
    reference = 2 / (3 * math.sqrt(3))
    assert values == pytest.approx([-reference, reference], rel=RTOL)

    for sp in located(branch):
        assert sp.converged and sp.precision <= 1e-10
        assert sp.x[0] ** 2 == pytest.approx(1 / 3, rel=1e-8)
        assert sorted(sp.n_unstable) == [0, 1]


def test_enzyme_folds_and_pitchforks_on_the_symmetric_branch():
    problem = problems.enzyme()
    branch = problem.run()
    check_branch(branch)
    folds, pitchforks = problems.enzyme_references()

    assert sorted(sp.value for sp in located(branch, "LP")) == pytest.approx(
        sorted(folds), rel=RTOL
    )
    bps = located(branch, "BP")
    assert sorted(sp.value for sp in bps) == pytest.approx(sorted(pitchforks), rel=RTOL)
    assert {sp.kind for sp in bps} == {"pitchfork"}

    # The published four-digit values.
    assert sorted(folds) == pytest.approx([18.88707, 34.35692], abs=1e-5)
    assert sorted(pitchforks) == pytest.approx([22.18164, 34.22289], abs=1e-5)


def test_bratu_fold_pitchfork_and_no_hopf_at_the_neutral_saddle():
    branch = problems.bratu2().run()
    check_branch(branch)
    (fold,) = located(branch, "LP")
    (bp,) = located(branch, "BP")
    assert fold.value == pytest.approx(1 / math.e, rel=RTOL)
    assert bp.value == pytest.approx(3 / math.e**3, rel=RTOL)

    assert bp.kind == "pitchfork"
    assert located(branch, "H") == []

    # The neutral saddle (eigenvalues +1 and -1) lies on the branch.
    near = np.argmin(np.abs(branch.x[:, 0] - 2.0))
    assert branch.n_unstable[near] == 1
    assert abs(branch.p[near] - problems.BRATU2_NEUTRAL_SADDLE) < 0.05


def test_predator_prey_branch_points_fold_and_hopf():
    problem = problems.predator_prey()
    diagram = bifurc.diagram(problem.system, problem.x0, "p", problem.p_range)
    refs = problems.predator_prey_references()
    points = diagram.special_points
    by_label = {}

    for sp in points:
        by_label.setdefault(sp.label, []).append(sp)
    for branch in diagram.branches:
        check_branch(branch)

    assert sorted(sp.value for sp in by_label["BP"]) == pytest.approx(
        [refs["bp_trivial"], refs["bp_prey"]], rel=RTOL
    )
    assert {sp.kind for sp in by_label["BP"]} == {"transcritical"}
    (fold,) = by_label["LP"]
    assert fold.value == pytest.approx(refs["lp_prey"], rel=RTOL)

    (hopf,) = by_label["H"]
    assert hopf.value == pytest.approx(refs["hopf"], rel=RTOL)
    assert hopf.kind == "hopf"
    # At the Hopf point on u1 = 1/3 the frequency is sqrt(det J) = sqrt(u2).
    assert hopf.x[0] == pytest.approx(1 / 3, rel=1e-10)
    assert hopf.data["frequency"] == pytest.approx(math.sqrt(hopf.x[1]), rel=1e-8)
    assert sorted(hopf.n_unstable) == [0, 2]


@pytest.mark.parametrize("symmetrizer", [True, False])
def test_hopfield_pitchfork_at_the_inverse_top_eigenvalue(symmetrizer):
    problem = problems.hopfield(symmetrizer=symmetrizer)
    branch = problem.run()
    check_branch(branch)
    top = np.max(np.linalg.eigvalsh(problems.hopfield_weights()))
    first = located(branch, "BP")[0]
    assert first.value == pytest.approx(1 / top, rel=RTOL)

    assert first.kind == "pitchfork"
    expected = branch.info["stability"]
    assert expected == "eigenvalues"


def test_hopfield_model_from_the_registry():
    models = pytest.importorskip("bifurc.models")
    system = models.hopfield()
    weights = models.default_weights()
    top = np.max(np.linalg.eigvalsh(weights))

    branch = bifurc.continuation(
        system, np.zeros(system.n), "beta", (0.2, 1.5 / top), p0=0.2
    )
    check_branch(branch)
    first = located(branch, "BP")[0]
    assert first.value == pytest.approx(1 / top, rel=RTOL)


def test_two_branch_points_in_one_step_are_both_found():
    # Eigenvalues 1 and 1.002 of W: branch points at beta = 1 and 1/1.002,
    # 0.002 apart, far less than the step.
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    weights = q @ np.diag([1.0, 1.002, -0.5]) @ q.T
    problem = problems.hopfield(weights)
    branch = problem.run(ds=0.1, ds_max=0.5)
    check_branch(branch)

    values = sorted(sp.value for sp in located(branch, "BP"))
    assert values == pytest.approx([1 / 1.002, 1.0], rel=RTOL)


def test_fold_coinciding_with_a_branch_point_is_reported_once():
    # From x = 1 on the parabola p = x^2 of p x - x^3, through its vertex.
    problem = problems.pitchfork()
    branch = bifurc.continuation(problem.system, [1.0], "p", (-1.0, 1.0), p0=1.0)
    check_branch(branch)
    points = located(branch)
    assert [sp.label for sp in points] == ["BP"]
    assert points[0].kind == "pitchfork"

    assert abs(points[0].value) < 1e-12


def test_located_points_record_how_they_were_found():
    branch = problems.bratu2().run()
    for sp in located(branch):
        assert sp.converged
        assert sp.bracket[0] <= sp.value <= sp.bracket[1]
        assert sp.precision == sp.bracket[1] - sp.bracket[0] <= 1e-10
        assert 0 < sp.iterations < 60
        assert sp.residual < 1e-12
        assert "arclength" in sp.data


def test_hopf_of_the_normal_form():
    # x' = mu x - y - x (x^2 + y^2), y' = x + mu y - y (x^2 + y^2): H at mu = 0,
    # frequency 1.
    system = bifurc.System.from_equations(
        ["mu*x - y - x*(x**2 + y**2)", "x + mu*y - y*(x**2 + y**2)"],
        ["x", "y"],
        {"mu": -1.0},
    )
    branch = bifurc.continuation(system, [0.0, 0.0], "mu", (-1.0, 1.0))

    check_branch(branch)
    (hopf,) = located(branch)
    assert hopf.label == "H"
    assert hopf.value == pytest.approx(0.0, abs=1e-12)
    assert hopf.data["frequency"] == pytest.approx(1.0, rel=1e-10)


def test_hopf_with_the_arnoldi_path():
    # A Hopfield network with a rotation: W = [[1, 1], [-1, 1]] block plus a
    # damped block; stability from the rightmost eigenvalues only.
    n = 60
    weights = np.zeros((n, n))
    weights[:2, :2] = [[1.0, 1.0], [-1.0, 1.0]]
    weights[2:, 2:] = -0.5 * np.eye(n - 2)
    problem = problems.hopfield(weights, symmetrizer=False)
    options = bifurc.ContinuationOptions(stability="arnoldi", n_eigenvalues=6)

    branch = problem.run(p_range=(0.2, 1.5), p0=0.2, options=options)
    assert branch.info["stability"] == "arnoldi"
    assert branch.info["tracked_spectra"] > 0
    assert sum(len(values) < n for values in branch.eigenvalues) > len(branch) / 2
    check_branch(branch)
    (hopf,) = located(branch, "H")
    # f_x(0) = -I + beta W: the pair beta (1 +/- i) - 1 crosses at beta = 1.
    assert hopf.value == pytest.approx(1.0, rel=RTOL)

    assert hopf.data["frequency"] == pytest.approx(1.0, rel=1e-8)


def test_sign_changes_made_by_rounding_are_not_special_points():
    # Far along the upper Bratu branch f_p = e^x dwarfs f_x.
    branch = problems.bratu2().run(p_range=(1e-6, 0.5))
    labels = [sp.label for sp in located(branch)]
    assert labels == ["LP", "BP"]


# ----------------------------------------------------------------------
# Property tests: invariance under changes of coordinates


def _transformed_normal_form(form, matrix, scale, shift):
    """A 1-D normal form g(z, q) embedded as z' = g, w' = -w, then x = M (z, w)
    and p = scale q + shift."""
    inverse = np.linalg.inv(matrix)
    g = {
        "fold": lambda z, q: q - z**2,
        "pitchfork": lambda z, q: q * z - z**3,
        "transcritical": lambda z, q: q * z - z**2,
    }[form]

    slopes = {
        "fold": (lambda z, q: -2 * z, lambda z, q: 1.0),
        "pitchfork": (lambda z, q: q - 3 * z**2, lambda z, q: z),
        "transcritical": (lambda z, q: q - 2 * z, lambda z, q: z),
    }[form]

    def f(x, p):
        z, w = inverse @ x
        q = (p[0] - shift) / scale
        return matrix @ np.array([g(z, q), -w])

    def jacobian(x, p):
        z, _ = inverse @ x
        q = (p[0] - shift) / scale
        return matrix @ np.diag([slopes[0](z, q), -1.0]) @ inverse

    def param_jacobian(x, p):
        z, _ = inverse @ x
        q = (p[0] - shift) / scale
        return (matrix @ np.array([slopes[1](z, q) / scale, 0.0])).reshape(2, 1)

    return bifurc.System.from_callable(
        f, ["x1", "x2"], {"p": shift}, jacobian=jacobian, param_jacobian=param_jacobian
    )


@given(
    form=st.sampled_from(["fold", "pitchfork", "transcritical"]),
    entries=st.lists(st.floats(-2.0, 2.0), min_size=4, max_size=4),
    scale=st.floats(0.2, 5.0) | st.floats(-5.0, -0.2),
    shift=st.floats(-3.0, 3.0),
)
def test_normal_forms_under_changes_of_coordinates(form, entries, scale, shift):
    matrix = np.array(entries).reshape(2, 2) + np.diag([2.5, 2.5])
    if abs(np.linalg.det(matrix)) < 0.5:
        matrix = matrix + np.diag([2.0, -2.0])
    system = _transformed_normal_form(form, matrix, scale, shift)
    z0 = 1.0 if form == "fold" else 0.0
    q0 = 1.0 if form == "fold" else -0.5

    p_range = sorted([shift + scale * 2.0, shift - scale * 1.0])
    branch = bifurc.continuation(
        system, matrix @ np.array([z0, 0.0]), "p", p_range, p0=shift + scale * q0
    )
    check_branch(branch)
    assert branch.status is Status.REACHED_BOUND

    (point,) = located(branch)
    expected_label = "LP" if form == "fold" else "BP"
    assert point.label == expected_label
    assert point.value == pytest.approx(shift, abs=1e-9 * (1 + abs(shift)))

    if form != "fold":
        assert point.kind == form


def test_property_reference_by_root_solve():
    # The transformed fold's reference value also follows from a 1-D solve.
    matrix = np.array([[2.0, 0.5], [0.3, 1.5]])
    system = _transformed_normal_form("fold", matrix, 2.0, 0.7)
    branch = bifurc.continuation(system, matrix @ [1.0, 0.0], "p", (0.0, 3.0), p0=2.7)
    (point,) = located(branch)
    q = scipy.optimize.brentq(lambda q: q - 0.0, -1.0, 1.0, xtol=1e-15)
    assert point.value == pytest.approx(0.7 + 2.0 * q, abs=1e-12)


# ----------------------------------------------------------------------
# Regression tests


def _network_branch(weights, beta_max, **options):
    system = bifurc.models.hopfield(np.asarray(weights), beta=0.0)
    n = len(weights)
    return bifurc.continuation(system, np.zeros(n), "beta", (0.0, beta_max), **options)


def test_hopf_eigenvalue_not_paired_with_another_one_across_a_step():
    values = np.linalg.eigvals(np.array(problems.SMALL_NETWORK))
    pair = values[(values.imag > 1e-9) & (values.real > 0)]
    branch = _network_branch(problems.SMALL_NETWORK, 4.0)
    check_branch(branch)

    (hopf,) = located(branch, "H")
    assert hopf.converged
    assert hopf.value == pytest.approx(1 / pair[0].real, rel=1e-12)
    assert hopf.data["frequency"] == pytest.approx(
        pair[0].imag / pair[0].real, rel=1e-9
    )
    assert sorted(hopf.n_unstable) == [0, 2]


@pytest.mark.parametrize("seed", range(6))
def test_hopf_point_not_placed_at_a_step_end(seed):
    """Random networks: every H at its closed form, never at a branch point."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 12))
    weights = rng.standard_normal((n, n)) * 2.0 / np.sqrt(n)
    values = np.linalg.eigvals(weights)
    complex_ = values[(values.imag > 1e-9) & (values.real > 0.25)]

    branch = _network_branch(weights, 4.0, ds=0.05, ds_max=0.2)
    check_branch(branch)
    found = sorted(sp.value for sp in located(branch, "H"))
    np.testing.assert_allclose(found, sorted(1 / complex_.real), rtol=1e-10)
    assert not set(found) & set(branch.p)


def test_complex_pair_turning_real_off_the_axis_is_not_hopf():
    """x' = A(p) x, A = [[1, 1], [p, 1]]: eigenvalues 1 +/- sqrt(p).

    At p = 0 an unstable complex pair becomes real with real part 1: the
    count of unstable complex eigenvalues changes, but nothing crosses the
    imaginary axis.
    """
    system = bifurc.System.from_equations(["x + y", "p*x + y"], ["x", "y"], {"p": -1.0})
    branch = bifurc.continuation(system, [0.0, 0.0], "p", (-1.0, 0.5))
    check_branch(branch)
    assert located(branch) == []
    assert set(branch.n_unstable) == {2}


def test_special_point_fields_are_python_scalars():
    branches = [problems.cusp().run(), problems.pitchfork().run()]
    branches.append(_network_branch(problems.SMALL_NETWORK, 1.0))
    points = [sp for branch in branches for sp in branch.special_points]
    assert {sp.label for sp in points} == {"EP", "LP", "BP", "H"}

    for sp in points:
        assert type(sp.converged) is bool
        assert type(sp.value) is float and type(sp.precision) is float
        assert type(sp.iterations) is int
        assert all(type(end) is float for end in sp.bracket)


def _precision_cases():
    """(label, reference, branch) for several reference problems."""
    cusp = 2 / (3 * math.sqrt(3))
    yield from (("LP", ref, problems.cusp().run()) for ref in (-cusp, cusp))

    enzyme = problems.enzyme().run()
    folds, pitchforks = problems.enzyme_references()
    yield from (("LP", ref, enzyme) for ref in folds)
    yield from (("BP", ref, enzyme) for ref in pitchforks)

    bratu = problems.bratu2().run()
    yield from (("LP", 1 / math.e, bratu), ("BP", 3 / math.e**3, bratu))

    problem = problems.predator_prey()
    refs = problems.predator_prey_references()
    branches = bifurc.diagram(problem.system, problem.x0, "p", problem.p_range).branches
    for label, key in [("BP", "bp_trivial"), ("BP", "bp_prey")]:
        yield from ((label, refs[key], b) for b in branches)
    yield from (("LP", refs["lp_prey"], b) for b in branches)
    yield from (("H", refs["hopf"], b) for b in branches)

    values = np.linalg.eigvals(np.array(problems.SMALL_NETWORK))
    hopf = np.max(values[np.abs(values.imag) > 1e-9].real)
    real = np.max(values[np.abs(values.imag) <= 1e-9].real)
    network = _network_branch(problems.SMALL_NETWORK, 4.0)
    yield from (("H", 1 / hopf, network), ("BP", 1 / real, network))

    # The branch point 1e-6 before the end of the range.
    pitchfork = problems.pitchfork().run(p_range=(-1.0, 1e-6))
    yield "BP", 0.0, pitchfork


def test_precision_bounds_the_actual_error():
    checked = 0
    for label, reference, branch in _precision_cases():
        for sp in located(branch, label):
            if abs(sp.value - reference) > 1e-6 * max(1.0, abs(reference)):
                continue
            checked += 1
            error = abs(sp.value - reference)
            assert error <= max(sp.precision, 1e-14), (sp, reference, error)
            assert sp.bracket[0] <= sp.value <= sp.bracket[1]
    assert checked >= 15
