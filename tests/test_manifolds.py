"""Local invariant manifolds and the ends of unstable manifolds.

References: x' = -x, y' = y + k x^2 has the stable manifold y = -k x^2/3
and x' = x, y' = -y + k x^2 the unstable manifold y = k x^2/3 (both exact:
substitute y = h(x) into h'(x) x' = y'); x' = x - x^3, y' = y - y^3 has a
source at 0, saddles on the axes and sinks at (+-1, +-1).
"""

import math

import numpy as np
import pytest

import bifurc
from bifurc import InputError, Status
from bifurc._manifolds import (
    choose_method,
    newton_rest_point,
    rest_point_data,
    sphere_directions,
    unstable_manifold_ends,
)

ANGLE = 0.7
ROT = np.array(
    [[math.cos(ANGLE), -math.sin(ANGLE)], [math.sin(ANGLE), math.cos(ANGLE)]]
)


def quadratic_saddle(sign, symbolic=False):
    """x' = -sign x, y' = sign y + k x^2, in coordinates rotated by ANGLE."""
    if symbolic:
        c, s = math.cos(ANGLE), math.sin(ANGLE)
        x, y = f"({c}*z0 + {s}*z1)", f"({-s}*z0 + {c}*z1)"
        dx, dy = f"(-({sign})*{x})", f"(({sign})*{y} + k*{x}**2)"
        equations = [f"{c}*{dx} - {s}*{dy}", f"{s}*{dx} + {c}*{dy}"]
        return bifurc.System.from_equations(equations, ["z0", "z1"], {"k": 1.5})

    def f(z, p):
        x, y = ROT.T @ z
        return ROT @ np.array([-sign * x, sign * y + p[0] * x * x])

    def jacobian(z, p):
        x, _ = ROT.T @ z
        return ROT @ np.array([[-sign, 0.0], [2 * p[0] * x, sign]]) @ ROT.T

    return bifurc.System.from_callable(f, ["z0", "z1"], {"k": 1.5}, jacobian=jacobian)


def four_sinks():
    """x' = x - x^3, y' = y - y^3: a source, four saddles, four sinks."""

    def f(x, p):
        return np.array([x[0] - x[0] ** 3, p[0] * (x[1] - x[1] ** 3)])

    def jacobian(x, p):
        return np.diag([1 - 3 * x[0] ** 2, p[0] * (1 - 3 * x[1] ** 2)])

    return bifurc.System.from_callable(f, ["x", "y"], {"r": 1.0}, jacobian=jacobian)


@pytest.mark.parametrize("symbolic", [False, True])
def test_stable_manifold_to_second_order(symbolic):
    system = quadratic_saddle(1.0, symbolic)
    data = rest_point_data(system, np.zeros(2), system.defaults)
    assert (data.n_stable, data.n_unstable) == (1, 1)
    assert data.stable_graph is not None

    for x in (0.1, -0.03, 0.01):
        exact = ROT @ [x, -1.5 * x * x / 3]
        assert abs(data.stable_gap(exact)[0]) < 1e-9 * x * x
        z_s = data.split(exact)[0]
        np.testing.assert_allclose(data.stable_point(z_s), exact, atol=1e-9 * x * x)


def test_first_order_misses_the_curvature():
    system = quadratic_saddle(1.0)
    data = rest_point_data(system, np.zeros(2), system.defaults, order=1)
    exact = ROT @ [0.1, -1.5 * 0.01 / 3]
    assert abs(abs(data.stable_gap(exact)[0]) - 0.005) < 1e-12


def test_unstable_manifold_and_time_reversal():
    system = quadratic_saddle(-1.0)
    data = rest_point_data(system, np.zeros(2), system.defaults)
    exact = ROT @ [0.05, 1.5 * 0.05**2 / 3]
    assert abs(data.unstable_gap(exact)[0]) < 1e-9 * 0.05**2

    reverse = data.reversed()
    assert abs(reverse.stable_gap(exact)[0]) < 1e-9 * 0.05**2
    np.testing.assert_allclose(reverse.eigenvalues, [-1.0, 1.0])
    np.testing.assert_array_equal(reverse.unstable_basis, data.stable_basis)


def test_eigen_data_of_a_three_dimensional_saddle():
    system = bifurc.System.from_equations(
        ["-2*x + y*z", "x + 3*y", "-z + x*y"], ["x", "y", "z"], {"q": 0.0}
    )
    data = rest_point_data(system, np.zeros(3), system.defaults)
    np.testing.assert_allclose(data.eigenvalues.real, [-2, -1, 3])
    assert (data.n_stable, data.n_unstable) == (2, 1)
    assert data.hyperbolic and not data.is_sink
    basis = np.hstack([data.stable_basis, data.unstable_basis])
    np.testing.assert_allclose(data.coordinates @ basis, np.eye(3), atol=1e-14)
    jac = system.fx(np.zeros(3), system.defaults)
    # The blocks are f_x restricted to the invariant subspaces.
    np.testing.assert_allclose(
        jac @ data.stable_basis, data.stable_basis @ data.stable_block, atol=1e-13
    )


def test_centre_is_not_hyperbolic():
    system = bifurc.System.from_equations(["y", "-x"], ["x", "y"], {"q": 0.0})
    assert not rest_point_data(system, np.zeros(2), system.defaults).hyperbolic


def test_newton_finds_the_rest_point():
    system = four_sinks()
    x, converged, residual = newton_rest_point(system, [0.9, 1.2], system.defaults)
    assert converged and residual < 1e-14
    np.testing.assert_allclose(x, [1, 1], atol=1e-14)


def test_sphere_directions():
    assert sphere_directions(1, 8).tolist() == [[1.0], [-1.0]]
    circle = sphere_directions(2, 6)
    assert circle.shape == (6, 2)
    np.testing.assert_allclose(np.linalg.norm(sphere_directions(4, 12), axis=1), 1)
    assert sphere_directions(3, 4).shape == (6, 3), "at least the coordinate axes"


# ----------------------------------------------------------------------
# Where the branches go


SINKS = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)
SADDLES = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], dtype=float)


def test_saddle_branches_land_on_the_listed_sinks():
    system = four_sinks()
    points = np.vstack([[[0, 0]], SADDLES, SINKS])
    ends = unstable_manifold_ends(system, [1, 0], system.defaults, points)
    assert len(ends) == 2
    assert sorted(end.target_index for end in ends) == [5, 6]
    for end in ends:
        assert end.end == "rest point" and end.status is Status.SUCCESS
        np.testing.assert_allclose(end.target_x, points[end.target_index], atol=1e-12)
        np.testing.assert_allclose(end.orbit[0], [1, 0], atol=1e-5)
        assert abs(end.direction[0]) < 1e-12 and abs(end.direction[1]) == 1
        assert np.linalg.norm(end.orbit[-1] - end.target_x) < 1e-2


def test_sinks_found_by_newton_without_a_list():
    system = four_sinks()
    ends = unstable_manifold_ends(system, [0, 1], system.defaults)
    landed = sorted(tuple(np.round(end.target_x, 12)) for end in ends)
    assert landed == [(-1.0, 1.0), (1.0, 1.0)]
    assert all(end.target_index is None for end in ends)


def test_source_sampled_on_the_circle():
    # From the source, diagonal directions reach the sinks; directions on
    # the (invariant) axes end on saddles, where they stay: undecided.
    system = four_sinks()
    points = np.vstack([[[0, 0]], SADDLES, SINKS])
    ends = unstable_manifold_ends(
        system, [0, 0], system.defaults, points, n_directions=8, t_max=60.0
    )
    assert len(ends) == 8
    for end in ends:
        x, y = end.direction
        if abs(x) > 1e-9 and abs(y) > 1e-9:
            assert end.end == "rest point"
            np.testing.assert_array_equal(points[end.target_index], np.sign([x, y]))
        else:
            assert end.end == "undecided" and "t_max" in end.message


def test_escape_and_sink():
    # x' = x^2 - 1, y' = -y: the branch of the saddle (1, 0) going right
    # blows up, the one going left reaches the sink (-1, 0).
    system = bifurc.System.from_equations(["x**2 - 1", "-y"], ["x", "y"], {"q": 0.0})
    ends = unstable_manifold_ends(system, [1, 0], system.defaults, [[-1, 0], [1, 0]])
    kinds = sorted((end.end, end.direction[0] > 0) for end in ends)
    assert kinds == [("escaped", True), ("rest point", False)]
    assert unstable_manifold_ends(system, [-1, 0], system.defaults) == []


def test_stiff_saddle_branches_reach_the_sinks():
    system = bifurc.System.from_equations(
        ["x - x**3", "-100000*(y - x**2)"], ["x", "y"], {"q": 0.0}
    )
    data = rest_point_data(system, np.zeros(2), system.defaults)
    assert choose_method("auto", data) == "LSODA"
    ends = unstable_manifold_ends(system, [0, 0], system.defaults, [[1, 1], [-1, 1]])
    assert sorted(end.target_index for end in ends) == [0, 1]


def test_input_errors():
    system = four_sinks()
    with pytest.raises(InputError, match="not near a rest point"):
        unstable_manifold_ends(system, [0.5, 0.5], system.defaults)
    centre = bifurc.System.from_equations(["y", "-x"], ["x", "y"], {"q": 0.0})
    with pytest.raises(InputError, match="not hyperbolic"):
        unstable_manifold_ends(centre, [0, 0], centre.defaults)
    with pytest.raises(InputError, match="full parameter vector"):
        unstable_manifold_ends(system, [0, 0], [1.0, 2.0])
    with pytest.raises(InputError, match="rest_points"):
        unstable_manifold_ends(system, [0, 0], system.defaults, [[0, 0, 0]])
