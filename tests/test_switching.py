"""Branch switching at branch points and recursive diagrams."""

import numpy as np
import problems
import pytest
from invariants import check_branch

import bifurc
from bifurc import InputError, Status


def branch_points(branch):
    return [sp for sp in branch.special_points if sp.label == "BP"]


@pytest.mark.parametrize(("subcritical", "sign"), [(False, 1.0), (True, -1.0)])
def test_pitchfork_switching_finds_the_parabola(subcritical, sign):
    problem = problems.pitchfork(subcritical=subcritical)
    diagram = bifurc.diagram(problem.system, problem.x0, "p", problem.p_range)
    assert len(diagram.branches) == 2
    primary, new = diagram.branches

    for branch in diagram.branches:
        check_branch(branch)

    assert np.all(primary.x == 0)
    # The new branch is x^2 = +p (supercritical) or -p (subcritical), both
    # halves, through the branch point.
    assert np.allclose(new.x[:, 0] ** 2, sign * new.p, atol=1e-10)
    assert new.x[:, 0].min() < -0.5 and new.x[:, 0].max() > 0.5
    (bp,) = branch_points(primary)
    assert bp.kind == "pitchfork"
    assert diagram.origins == (None, (0, primary.special_points.index(bp)))


def test_pitchfork_stability_of_the_new_branch():
    problem = problems.pitchfork()
    _, new = bifurc.diagram(problem.system, problem.x0, "p", problem.p_range).branches
    away = np.abs(new.x[:, 0]) > 1e-3
    assert np.all(new.n_unstable[away] == 0)
    problem = problems.pitchfork(subcritical=True)
    _, new = bifurc.diagram(problem.system, problem.x0, "p", problem.p_range).branches

    away = np.abs(new.x[:, 0]) > 1e-3
    assert np.all(new.n_unstable[away] == 1)


def test_transcritical_switching_finds_the_diagonal():
    problem = problems.transcritical()
    diagram = bifurc.diagram(problem.system, problem.x0, "p", problem.p_range)
    primary, new = diagram.branches
    check_branch(new)
    assert np.allclose(new.x[:, 0], new.p, atol=1e-10)
    assert new.p.min() == pytest.approx(-1.0) and new.p.max() == pytest.approx(1.0)

    (bp,) = branch_points(primary)
    assert bp.kind == "transcritical"
    # The other branch's point of view: the same branch point, also transcritical.
    (again,) = branch_points(new)
    assert again.kind == "transcritical"
    assert len(diagram.special_points) == 1


def test_branching_directions_of_the_pitchfork():
    branch = problems.pitchfork().run()
    (bp,) = branch_points(branch)
    known, new = bp.data["directions"]
    assert np.allclose(np.abs(known), [0.0, 1.0], atol=1e-12)
    assert np.allclose(np.abs(new), [1.0, 0.0], atol=1e-12)
    c11, c12, c22 = bp.data["coefficients"]

    assert abs(c11) < 1e-12 and abs(c22) < 1e-12 and abs(c12) > 0.1


def test_switch_branch_on_the_enzyme_model_breaks_the_symmetry():
    problem = problems.enzyme()
    branch = problem.run()
    first = min(branch_points(branch), key=lambda sp: sp.value)
    new = bifurc.switch_branch(branch, first, ds_max=0.5)
    check_branch(new)
    assert np.max(np.abs(new.x[:, 0] - new.x[:, 1])) > 1.0

    # The asymmetric states form a loop joining the two pitchforks (both
    # halves, s1 > s2 and s1 < s2): the run closes it.
    assert new.status is Status.CLOSED
    values = sorted(sp.value for sp in branch_points(new))
    assert values == pytest.approx(sorted(problems.enzyme_references()[1]), rel=1e-9)


def test_switch_branch_needs_a_branch_point():
    branch = problems.fold().run()
    fold = branch.special_points[1]
    with pytest.raises(InputError, match="needs a classified BP, got LP"):
        bifurc.switch_branch(branch, fold)


def test_diagram_depth_zero_is_the_primary_branch_only():
    problem = problems.pitchfork()
    diagram = bifurc.diagram(
        problem.system, problem.x0, "p", problem.p_range, max_depth=0
    )
    assert len(diagram.branches) == 1

    with pytest.raises(InputError, match="max_depth"):
        bifurc.diagram(problem.system, problem.x0, "p", problem.p_range, max_depth=-1)


def test_hopfield_diagram_switches_at_both_pitchforks():
    problem = problems.hopfield()
    diagram = bifurc.diagram(
        problem.system, problem.x0, "beta", problem.p_range, max_depth=1
    )
    assert len(diagram.branches) == 3

    for branch in diagram.branches[1:]:
        check_branch(branch)
        assert np.max(np.abs(branch.x)) > 0.1
    assert diagram.status.success


# ----------------------------------------------------------------------
# Regression tests


def _cubic_pitchfork():
    return bifurc.System.from_equations(["p*x - x**3"], ["x"], {"p": -1.0})


def test_switch_into_a_range_ending_just_past_the_branch_point():
    diagram = bifurc.diagram(_cubic_pitchfork(), [0.0], "p", (-1.0, 1e-6))
    assert len(diagram.branches) == 2
    for branch in diagram.branches:
        check_branch(branch)
        assert branch.status is Status.REACHED_BOUND

    new = diagram.branches[1]
    np.testing.assert_allclose(new.x[:, 0] ** 2, new.p, rtol=1e-6)
    np.testing.assert_allclose(new.x[[0, -1], 0], [-1e-3, 1e-3], rtol=1e-9)


def test_failed_switch_returns_a_well_formed_branch():
    """The new branch x^2 = p lies beyond a range that ends at the BP."""
    primary = bifurc.continuation(_cubic_pitchfork(), [0.0], "p", (-1.0, 1.0))
    (bp,) = branch_points(primary)
    new = bifurc.switch_branch(primary, bp, p_range=(-1.0, 0.0))

    assert new.status is Status.FAILED
    assert "leaves the parameter range" in new.message
    check_branch(new)
    assert [sp.label for sp in new.special_points] == ["EP", "EP"]


@pytest.mark.parametrize("ds", [0.01, 0.05, 0.1])
def test_switched_branch_reports_its_start_branch_point_once(ds):
    """Two-well energy x^4/4 - mu x^2/2 + y^2/2: pitchfork at mu = 0.

    The new branch x^2 = mu turns at the branch point; it must report that
    point once, as the BP the parent found, with an honest precision.
    """
    system = bifurc.System.from_energy(
        "x**4/4 - mu*x**2/2 + y**2/2", ["x", "y"], {"mu": -1.0}
    )
    diagram = bifurc.diagram(system, [0.0, 0.0], "mu", (-1.0, 1.0), ds=ds)
    primary, new = diagram.branches
    check_branch(new)
    located = [sp for sp in new.special_points if sp.label != "EP"]

    assert [(sp.label, sp.kind) for sp in located] == [("BP", "pitchfork")]
    (bp,) = located
    assert bp.converged and abs(bp.value) <= max(bp.precision, 1e-14)
    assert bp.value == branch_points(primary)[0].value
    assert len(diagram.special_points) == 1

    assert abs(bp.tangent[-1]) < 1e-12
    # The branch turns (mu is smallest) at the step holding the BP.
    assert np.argmin(new.p) in (bp.index, bp.index + 1)
