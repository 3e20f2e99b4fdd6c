"""Heteroclinic connections against closed forms and independent root solves.

Reference values: the Nagumo front u'' = c u' - u (1 - u)(u - a) connects
u = 0 to u = 1 at c = (1 - 2a)/sqrt 2 with profile 1/(1 + exp(-z/sqrt 2)),
which the tests check by substitution below; embeddings of it in three and
four dimensions keep that speed; a reflection-symmetric gradient flow has its
saddle-to-saddle connection where the symmetry-breaking coefficient vanishes,
found by scipy's brentq.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

import bifurc
from bifurc import InputError, Status

SQRT2 = math.sqrt(2.0)

# Independent references are solved to this tolerance.
XTOL = 1e-15

# Located parameter values must match their references to this.
ATOL = 1e-8


def front_speed(a):
    """Speed of the Nagumo front from u = 0 to u = 1."""
    return (1 - 2 * a) / SQRT2


def nagumo(c=0.3, a=0.25):
    """u' = v, v' = c v - u (1 - u)(u - a) with analytic derivatives."""

    def f(x, p):
        c, a = p
        u, v = x
        return np.array([v, c * v - u * (1 - u) * (u - a)])

    def jacobian(x, p):
        c, a = p
        u, v = x
        return np.array([[0.0, 1.0], [3 * u * u - 2 * (1 + a) * u + a, c]])

    def param_jacobian(x, p):
        u, v = x
        return np.array([[0.0, 0.0], [v, u * (1 - u)]])

    return bifurc.System.from_callable(
        f,
        ["u", "v"],
        {"c": c, "a": a},
        jacobian=jacobian,
        param_jacobian=param_jacobian,
    )


def embedded_front(kind, stiffness=1e6, strong=2.0, coupling=0.7):
    """The Nagumo front in three dimensions, in mixed coordinates y = M (u, v, w).

    ``kind="stiff"``: w' = -K (w - u (1 - u)), a fast stable direction with
    eigenvalue -K at every rest point.  ``kind="weak"``: w' = s w + k v, a
    second, stronger unstable direction (eigenvalue s), so that the source
    has a two-dimensional unstable manifold and the front leaves it along
    the weak (Nagumo) direction.  The (u, v) equations do not involve w, so
    the front and its speed are those of the plane.
    """
    mix = np.array([[1.0, -0.5, 0.0], [0.5, 1.0, 0.3], [0.2, 0.0, 1.0]])
    inverse = np.linalg.inv(mix)

    def last(u, v, w):
        if kind == "stiff":
            value = -stiffness * (w - u * (1 - u))
            return value, [stiffness * (1 - 2 * u), 0.0, -stiffness]
        return strong * w + coupling * v, [0.0, coupling, strong]

    def f(y, p):
        u, v, w = inverse @ y
        c, a = p
        return mix @ np.array([v, c * v - u * (1 - u) * (u - a), last(u, v, w)[0]])

    def jacobian(y, p):
        u, v, w = inverse @ y
        c, a = p
        rows = [[0.0, 1.0, 0.0], [3 * u * u - 2 * (1 + a) * u + a, c, 0.0]]
        return mix @ np.array(rows + [last(u, v, w)[1]]) @ inverse

    def param_jacobian(y, p):
        u, v, _ = inverse @ y
        return mix @ np.array([[0.0, 0.0], [v, u * (1 - u)], [0.0, 0.0]])

    system = bifurc.System.from_callable(
        f, 3, {"c": 0.3, "a": 0.3}, jacobian=jacobian, param_jacobian=param_jacobian
    )
    return system, mix


ROTATION = 0.4


def two_saddle_flow():
    """A planar gradient flow with saddles S1, S2 and minima M+, M-, MR.

    V(x, y) = x^4/4 - 2x^3/3 - x^2/2 + 2x + x y^2/2 + y^4/4 + beta y with
    beta = p^3 + p - 1, in coordinates rotated by `ROTATION`.  For beta = 0
    the line y = 0 is invariant and carries the connection S1 = (1, 0) ->
    S2 = (-1, 0).  Returns the system and the rotation matrix.
    """
    rot = np.array(
        [
            [math.cos(ROTATION), -math.sin(ROTATION)],
            [math.sin(ROTATION), math.cos(ROTATION)],
        ]
    )

    def gradient_and_hessian(z, p):
        x, y = rot.T @ z
        beta = p[0] ** 3 + p[0] - 1
        grad = np.array([x**3 - 2 * x**2 - x + 2 + y**2 / 2, x * y + y**3 + beta])
        hess = np.array([[3 * x**2 - 4 * x - 1, y], [y, x + 3 * y**2]])
        return rot @ grad, rot @ hess @ rot.T

    system = bifurc.System.from_callable(
        lambda z, p: -gradient_and_hessian(z, p)[0],
        ["x", "y"],
        {"p": 0.5},
        jacobian=lambda z, p: -gradient_and_hessian(z, p)[1],
        param_jacobian=lambda z, p: (-rot @ np.array([0.0, 3 * p[0] ** 2 + 1]))[
            :, None
        ],
    )
    return system, rot


@pytest.fixture(scope="module")
def nagumo_front():
    """The connection (0, 0) -> (1, 0) at a = 0.25, bracketed around both signs of c."""
    return bifurc.find_connection(
        nagumo(), [0, 0], [1, 0], "c", bracket=(-1, 1), params={"a": 0.25}
    )


# ----------------------------------------------------------------------
# The reference itself


def test_reference_profile_solves_the_front_equation():
    z = np.linspace(-20, 20, 401)
    for a in (0.05, 0.3, 0.95):
        u = 1 / (1 + np.exp(-z / SQRT2))
        du = u * (1 - u) / SQRT2
        ddu = (1 - 2 * u) * du / SQRT2
        residual = ddu - (front_speed(a) * du - u * (1 - u) * (u - a))
        assert np.max(np.abs(residual)) < 1e-15


# ----------------------------------------------------------------------
# Nagumo front


@pytest.mark.parametrize("a", [0.05, 0.2, 0.5, 0.75, 0.95])
def test_nagumo_speed_matches_closed_form(a):
    connection = bifurc.find_connection(
        nagumo(), [0, 0], [1, 0], "c", bracket=(-1, 1), params={"a": a}
    )
    assert connection.status is Status.SUCCESS, connection.message
    assert abs(connection.value - front_speed(a)) < ATOL
    assert connection.p[1] == a
    assert connection.error < 1e-7
    assert abs(connection.value - front_speed(a)) <= 10 * connection.error + 1e-11


def test_front_runs_from_source_to_target(nagumo_front):
    con = nagumo_front
    assert con.value > 0, "c = (1 - 2a)/sqrt 2 > 0 for a < 1/2"
    np.testing.assert_allclose(con.source, [0, 0], atol=1e-12)
    np.testing.assert_allclose(con.target, [1, 0], atol=1e-12)
    assert np.linalg.norm(con.x[0]) < 1e-2
    assert np.linalg.norm(con.x[-1] - [1, 0]) < 1e-2
    assert np.all(np.diff(con.x[:, 0]) > 0), "u increases along the front"
    assert (con.n_unstable_source, con.n_stable_target) == (1, 1)


def test_front_profile_matches_closed_form_up_to_shift(nagumo_front):
    con = nagumo_front
    middle = brentq(lambda t: con.orbit(t)[0] - 0.5, 0, con.T, xtol=XTOL)
    t = np.linspace(0, con.T, 2001)
    u = 1 / (1 + np.exp(-(t - middle) / SQRT2))
    orbit = con.orbit(t)
    assert np.max(np.abs(orbit[:, 0] - u)) < 1e-7
    assert np.max(np.abs(orbit[:, 1] - u * (1 - u) / SQRT2)) < 1e-7


def test_reverse_direction_is_the_mirror_front():
    # From (1, 0) to (0, 0): u = 1/(1 + exp(z/sqrt 2)) solves the equation
    # for c = -(1 - 2a)/sqrt 2, the negative of the forward speed.
    con = bifurc.find_connection(
        nagumo(), [1, 0], [0, 0], "c", bracket=(-1, 1), params={"a": 0.25}
    )
    assert con.status is Status.SUCCESS, con.message
    assert abs(con.value + front_speed(0.25)) < ATOL
    assert np.all(np.diff(con.x[:, 0]) < 0), "u decreases along the reverse front"


def test_wrong_direction_finds_nothing_in_the_forward_bracket():
    # The bracket holds the speed of (0,0) -> (1,0) only; (1,0) -> (0,0) has none.
    con = bifurc.find_connection(
        nagumo(), [1, 0], [0, 0], "c", bracket=(0.1, 0.6), params={"a": 0.25}
    )
    assert con.status is Status.NO_CONNECTION
    assert math.isnan(con.value)
    assert "swapped" in con.message
    assert con.orbit is None and con.x.shape == (0, 2)


def test_shooting_alone_and_its_error_estimate():
    con = bifurc.find_connection(
        nagumo(), [0, 0], [1, 0], "c", bracket=(0, 1), params={"a": 0.3}, refine=False
    )
    assert con.status is Status.SUCCESS
    assert abs(con.value - front_speed(0.3)) < ATOL
    assert con.error < 1e-8
    assert math.isnan(con.residual)
    middle = con.orbit(0.5 * con.T)
    np.testing.assert_allclose(
        middle[1], middle[0] * (1 - middle[0]) / SQRT2, rtol=0, atol=1e-6
    )


def test_symbolic_system_gives_the_same_speed():
    system = bifurc.System.from_equations(
        ["v", "c*v - u*(1 - u)*(u - a)"], ["u", "v"], {"c": 0.0, "a": 0.7}
    )
    con = bifurc.find_connection(system, [0, 0], [1, 0], "c", bracket=(-1, 1))
    assert con.status is Status.SUCCESS, con.message
    assert abs(con.value - front_speed(0.7)) < ATOL


def test_continued_curve_matches_formula(nagumo_front, tmp_path):
    curve = bifurc.continue_connection(nagumo_front, "a", (0.05, 0.95), ds=0.05)
    assert curve.status is Status.REACHED_BOUND, curve.message
    assert curve.values2[0] == pytest.approx(0.05, abs=1e-12)
    assert curve.values2[-1] == pytest.approx(0.95, abs=1e-12)
    assert np.all(np.diff(curve.values2) > 0)
    assert len(curve) >= 10
    np.testing.assert_allclose(
        curve.values, front_speed(curve.values2), rtol=0, atol=1e-7
    )
    for con in curve.connections:
        assert con.p[0] == con.value and con.residual < 1e-7

    path = tmp_path / "curve.csv"
    curve.to_csv(path)
    table = pd.read_csv(path)
    assert list(table.columns[:4]) == ["point", "label", "a", "c"]
    np.testing.assert_allclose(table["c"], curve.values, rtol=1e-15)


def test_connection_table_and_csv(nagumo_front, tmp_path):
    table = nagumo_front.to_dataframe()
    assert list(table.columns) == ["t", "u", "v"]
    assert len(table) == len(nagumo_front.t)
    nagumo_front.to_csv(tmp_path / "orbit.csv")
    np.testing.assert_allclose(pd.read_csv(tmp_path / "orbit.csv")["u"], table["u"])


# ----------------------------------------------------------------------
# Embedded fronts


def test_stiff_embedding_keeps_the_speed():
    system, mix = embedded_front("stiff")
    con = bifurc.find_connection(
        system, np.zeros(3), mix @ [1.0, 0, 0], "c", bracket=(0, 1), params={"a": 0.3}
    )
    real = np.abs(con.target_eigenvalues.real)
    assert real.max() / real.min() >= 1e5
    assert con.status is Status.SUCCESS, con.message
    assert abs(con.value - front_speed(0.3)) < ATOL
    assert con.error < 1e-8

    # Collocation is skipped for such stiffness; the shot is the orbit.
    assert not con.data["refined"] and "shooting" in con.message
    np.testing.assert_allclose(con.orbit(con.t), con.x, rtol=0, atol=1e-14)
    with pytest.raises(InputError, match="shooting alone"):
        bifurc.continue_connection(con, "a", (0.2, 0.4))


def test_weak_direction_of_a_two_dimensional_unstable_manifold():
    system, mix = embedded_front("weak")
    source, target = np.zeros(3), mix @ [1.0, 0, 0]
    con = bifurc.find_connection(
        system, source, target, "c", bracket=(0, 1), params={"a": 0.3}
    )
    assert con.n_unstable_source == 2 and con.n_stable_target == 1
    assert con.status is Status.SUCCESS, con.message
    assert abs(con.value - front_speed(0.3)) < ATOL

    # The orbit leaves along the weak unstable eigenvector, not the strong one.
    values, vectors = np.linalg.eig(system.fx(source, con.p))
    left = np.linalg.inv(vectors)
    weak = np.argmin(np.where(values.real > 0, values.real, np.inf))
    strong = np.argmax(values.real)
    assert values[strong].real == pytest.approx(2.0)
    start = left @ (con.x[0] - source)
    assert abs(start[strong]) < 1e-2 * abs(start[weak])


def test_sphere_search_in_four_dimensions():
    # Two unstable directions at the source and two stable ones at the
    # target: the direction of departure is found on the circle.
    mix = np.eye(4) + 0.3 * np.array(
        [
            [0.2, -0.5, 0.1, 0.3],
            [0.4, 0.1, -0.2, 0.0],
            [-0.3, 0.2, 0.5, 0.1],
            [0.1, 0.0, 0.3, -0.4],
        ]
    )
    inverse = np.linalg.inv(mix)

    def f(y, p):
        u, v, w1, w2 = inverse @ y
        c, a = p
        front = [v, c * v - u * (1 - u) * (u - a)]
        return mix @ np.array(
            front + [0.2 * w1 + 0.5 * v, -1.5 * w2 + 0.5 * u * (1 - u)]
        )

    def jacobian(y, p):
        u, v, w1, w2 = inverse @ y
        c, a = p
        rows = [
            [0, 1, 0, 0],
            [3 * u * u - 2 * (1 + a) * u + a, c, 0, 0],
            [0, 0.5, 0.2, 0],
            [0.5 * (1 - 2 * u), 0, 0, -1.5],
        ]
        return mix @ np.array(rows, dtype=float) @ inverse

    system = bifurc.System.from_callable(f, 4, {"c": 0.3, "a": 0.3}, jacobian=jacobian)
    con = bifurc.find_connection(
        system, np.zeros(4), mix @ [1.0, 0, 0, 0], "c", bracket=(0.2, 0.4),
        n_scan=3, n_directions=16,
    )  # fmt: skip
    assert (con.n_unstable_source, con.n_stable_target) == (2, 2)
    assert con.status is Status.SUCCESS, con.message
    assert abs(con.value - front_speed(0.3)) < ATOL


# ----------------------------------------------------------------------
# Saddle-to-saddle connection of a gradient flow


def test_gradient_flow_saddle_connection_at_the_symmetric_value():
    system, rot = two_saddle_flow()
    p_star = brentq(lambda p: p**3 + p - 1, 0, 1, xtol=XTOL)
    start = {"p": 0.6}
    s1 = bifurc.find_equilibrium(system, rot @ [1.0, 0.0], start)[0]
    s2 = bifurc.find_equilibrium(system, rot @ [-1.0, 0.0], start)[0]
    con = bifurc.find_connection(
        system, s1, s2, "p", bracket=(0.3, 1.0), params=start,
        source_id="S1", target_id="S2",
    )  # fmt: skip
    assert con.status is Status.SUCCESS, con.message
    assert abs(con.value - p_star) < ATOL
    assert (con.source_id, con.target_id) == ("S1", "S2")

    # The orbit lies on the symmetry line y = 0 (rotated).
    y = (con.x @ rot)[:, 1]
    assert np.max(np.abs(y)) < 1e-7


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_unstable_branches_land_differently_on_either_side(side):
    system, rot = two_saddle_flow()
    p_star = brentq(lambda p: p**3 + p - 1, 0, 1, xtol=XTOL)
    p = np.array([p_star + side * 1e-3])
    x_min = brentq(lambda x: x**3 - 2 * x**2 - 1.5 * x + 2, -2, -1, xtol=XTOL)
    guesses = {
        "S1": [1, 0],
        "S2": [-1, 0],
        "MR": [2, 0],
        "M+": [x_min, math.sqrt(-x_min)],
        "M-": [x_min, -math.sqrt(-x_min)],
    }
    names = list(guesses)
    points = [
        bifurc.find_equilibrium(system, rot @ np.array(g, float), p)[0]
        for g in guesses.values()
    ]

    def landings(name):
        ends = bifurc.unstable_manifold_ends(
            system, points[names.index(name)], p, points
        )
        assert all(end.end == "rest point" for end in ends)
        return sorted(names[end.target_index] for end in ends)

    # beta > 0 pushes y down: the left branch of S1 passes S2 below it.
    assert landings("S1") == (["M+", "MR"] if side < 0 else ["M-", "MR"])
    assert landings("S2") == ["M+", "M-"]


# ----------------------------------------------------------------------
# Input errors


def test_dimension_count_too_large():
    # For c > 0, (a, 0) is a source: 2 + 1 > 2, connections fill intervals of c.
    with pytest.raises(InputError, match="whole interval"):
        bifurc.find_connection(nagumo(c=0.3), [0.25, 0], [1, 0], "c")


def test_dimension_count_too_small():
    # A source as target has no stable manifold: 1 + 0 < 2.
    with pytest.raises(InputError, match="needs 2 free parameters"):
        bifurc.find_connection(nagumo(c=0.3), [0, 0], [0.25, 0], "c")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bracket": (0.5, 0.5)}, "distinct"),
        ({"bracket": "wide"}, "bracket"),
        ({"tolerance": 1e-9}, "unknown option"),
        ({"side": "sideways"}, "side"),
        ({"eps": 2.0}, "eps"),
        ({"branch": 2}, "branch"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        bifurc.find_connection(nagumo(), [0, 0], [1, 0], "c", **kwargs)


def test_bad_points_and_parameters():
    with pytest.raises(InputError, match="not near a rest point"):
        bifurc.find_connection(nagumo(), [0.5, 0.3], [1, 0], "c")
    with pytest.raises(InputError, match="homoclinic"):
        bifurc.find_connection(nagumo(), [0, 0], [0, 0], "c")
    with pytest.raises(InputError, match="unknown parameter"):
        bifurc.find_connection(nagumo(), [0, 0], [1, 0], "speed")
    with pytest.raises(InputError, match="not hyperbolic"):
        bifurc.find_connection(nagumo(c=0.0), [0.25, 0], [1, 0], "c")


def test_bad_continuation_requests(nagumo_front):
    with pytest.raises(InputError, match="differ"):
        bifurc.continue_connection(nagumo_front, "c", (0, 1))
    with pytest.raises(InputError, match="outside p_range"):
        bifurc.continue_connection(nagumo_front, "a", (0.5, 0.9))
    with pytest.raises(InputError, match="ds_min"):
        bifurc.continue_connection(nagumo_front, "a", (0, 1), ds=1.0, ds_max=0.1)
    failed = bifurc.find_connection(
        nagumo(), [1, 0], [0, 0], "c", bracket=(0.1, 0.6), params={"a": 0.25}
    )
    with pytest.raises(InputError, match="SUCCESS"):
        bifurc.continue_connection(failed, "a", (0, 1))
