"""Reference problems with known special points.

Each function returns a `Problem`: a system, where to start, what to continue,
and the special points it must have, with reference values that are exact
(closed forms) or computed here independently of bifurc (one-dimensional root
solves with scipy.optimize.brentq to 1e-14).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.optimize
import scipy.sparse as sp

import bifurc

# brentq tolerances for the independent references.
XTOL, RTOL = 1e-15, 4 * np.finfo(float).eps


@dataclasses.dataclass(frozen=True)
class Expected:
    """A special point a branch must contain.

    Attributes
    ----------
    label : str
    value : float
        Reference parameter value.
    kind : str or None
        Expected kind, when it matters.
    rtol : float
        Relative tolerance on the value.
    """

    label: str
    value: float
    kind: str | None = None
    rtol: float = 1e-9


@dataclasses.dataclass(frozen=True)
class Problem:
    """A system with a start point and the special points of its branch."""

    name: str
    system: bifurc.System
    x0: np.ndarray
    param: str
    p_range: tuple
    p0: float | None = None
    expected: tuple = ()
    options: dict = dataclasses.field(default_factory=dict)

    def run(self, **options):
        """Continue the branch from the start point."""
        settings = {"p0": self.p0, **self.options, **options}
        p_range = settings.pop("p_range", self.p_range)
        return bifurc.continuation(
            self.system, self.x0, self.param, p_range, **settings
        )


def _brentq(func, a, b):
    return scipy.optimize.brentq(func, a, b, xtol=XTOL, rtol=RTOL, maxiter=500)


# ----------------------------------------------------------------------
# Normal forms (symbolic: exact second derivatives)


def fold():
    """x' = p - x^2: a fold at p = 0."""
    system = bifurc.System.from_equations(["p - x**2"], ["x"], {"p": 1.0})
    return Problem(
        "fold",
        system,
        np.array([1.0]),
        "p",
        (-1.0, 2.0),
        expected=(Expected("LP", 0.0, "saddle-node"),),
    )


def pitchfork(subcritical=False):
    """x' = p x -/+ x^3: a pitchfork at p = 0 on x = 0."""
    sign = "+" if subcritical else "-"
    system = bifurc.System.from_equations([f"p*x {sign} x**3"], ["x"], {"p": -1.0})
    name = "subcritical pitchfork" if subcritical else "pitchfork"

    return Problem(
        name,
        system,
        np.array([0.0]),
        "p",
        (-1.0, 1.0),
        expected=(Expected("BP", 0.0, "pitchfork"),),
    )


def transcritical():
    """x' = p x - x^2: a transcritical branch point at p = 0."""
    system = bifurc.System.from_equations(["p*x - x**2"], ["x"], {"p": -1.0})
    return Problem(
        "transcritical",
        system,
        np.array([0.0]),
        "p",
        (-1.0, 1.0),
        expected=(Expected("BP", 0.0, "transcritical"),),
    )


def cusp():
    """x' = mu + x - x^3: folds at mu = -/+ 2 / (3 sqrt 3)."""
    system = bifurc.System.from_equations(["mu + x - x**3"], ["x"], {"mu": -2.0})
    root = -1.0 - 1e-3
    x0 = np.array([_brentq(lambda x: -2.0 + x - x**3, -2.0, root)])
    value = 2 / (3 * math.sqrt(3))

    return Problem(
        "cusp",
        system,
        x0,
        "mu",
        (-2.0, 2.0),
        expected=(Expected("LP", value), Expected("LP", -value)),
    )


# ----------------------------------------------------------------------
# Two-compartment enzyme model


def _enzyme_r(s, kappa):
    return s / (1 + s + kappa * s * s)


def _enzyme_slope(s, kappa):
    return (1 - kappa * s * s) / (1 + s + kappa * s * s) ** 2


def enzyme_references(rho=100.0, kappa=1.0):
    """Folds and pitchforks of the symmetric branch s1 = s2 = s.

    There the Jacobian is [[a, 1], [1, a]] with a = -2 - rho R'(s): its
    eigenvalues a + 1 (symmetric mode: fold where 1 + rho R'(s) = 0) and
    a - 1 (antisymmetric mode: pitchfork where 3 + rho R'(s) = 0), with
    s0 = s + rho R(s).

    Returns
    -------
    folds, pitchforks : list of float
        Values of s0, in increasing order of s.
    """
    s_min = _brentq(lambda s: _enzyme_slope_derivative(s, kappa), 1.0, 5.0)

    def roots(level):
        g = lambda s: level + rho * _enzyme_slope(s, kappa)  # noqa: E731
        return [_brentq(g, 1.0, s_min), _brentq(g, s_min, 200.0)]

    s0 = lambda s: s + rho * _enzyme_r(s, kappa)  # noqa: E731
    return [s0(s) for s in roots(1.0)], [s0(s) for s in roots(3.0)]


def _enzyme_slope_derivative(s, kappa):
    q = 1 + s + kappa * s * s
    return (-2 * kappa * s * q - 2 * (1 - kappa * s * s) * (1 + 2 * kappa * s)) / q**3


def enzyme(rho=100.0, kappa=1.0):
    """Two coupled compartments with substrate inhibition, continued in s0."""
    equations = [
        "(s0 - s1) + (s2 - s1) - rho*s1/(1 + s1 + kappa*s1**2)",
        "(s0 - s2) + (s1 - s2) - rho*s2/(1 + s2 + kappa*s2**2)",
    ]

    system = bifurc.System.from_equations(
        equations, ["s1", "s2"], {"s0": 0.0, "rho": rho, "kappa": kappa}
    )
    folds, pitchforks = enzyme_references(rho, kappa)
    expected = [Expected("LP", v, "saddle-node") for v in folds]
    expected += [Expected("BP", v, "pitchfork") for v in pitchforks]

    return Problem(
        "enzyme",
        system,
        np.zeros(2),
        "s0",
        (0.0, 50.0),
        expected=tuple(expected),
        options={"ds_max": 0.5},
    )


# ----------------------------------------------------------------------
# Two-variable Bratu problem


def bratu2():
    """x' = -2x + y + a e^x, y' = x - 2y + a e^y, from the origin region.

    On the symmetric branch x = y, a = x e^(-x) and the eigenvalues are
    x - 1 (fold at x = 1, a = 1/e) and x - 3 (pitchfork at x = 3,
    a = 3/e^3); at x = 2 they are -1 and +1: a neutral saddle at a = 2/e^2,
    not a Hopf point.  Built from a callable (general eigenvalue path).
    """

    def f(x, p):
        a = p[0]
        return np.array(
            [-2 * x[0] + x[1] + a * np.exp(x[0]), x[0] - 2 * x[1] + a * np.exp(x[1])]
        )

    def jac(x, p):
        a = p[0]
        return np.array([[-2 + a * np.exp(x[0]), 1.0], [1.0, -2 + a * np.exp(x[1])]])

    def pjac(x, p):
        return np.exp(x).reshape(2, 1)

    system = bifurc.System.from_callable(
        f, ["x", "y"], {"a": 0.04}, jacobian=jac, param_jacobian=pjac, name="bratu2"
    )

    expected = (
        Expected("LP", 1 / math.e, "saddle-node"),
        Expected("BP", 3 / math.e**3, "pitchfork"),
    )

    return Problem("bratu2", system, np.zeros(2), "a", (0.04, 0.5), expected=expected)


BRATU2_NEUTRAL_SADDLE = 2 / math.e**2


# ----------------------------------------------------------------------
# Predator-prey


def predator_prey_references():
    """BP on u = 0, BP and LP on u2 = 0, Hopf on u1 = 1/3."""
    c = 1 - math.exp(-5 / 3)

    def p_of(u):
        return 3 * u * (1 - u) / (1 - math.exp(-5 * u))

    def dp(u):
        e = math.exp(-5 * u)
        return (3 * (1 - 2 * u) * (1 - e) - 3 * u * (1 - u) * 5 * e) / (1 - e) ** 2

    u_fold = _brentq(dp, 0.01, 0.9)
    return {
        "bp_trivial": 3 / 5,
        "bp_prey": (2 / 3) / c,
        "lp_prey": p_of(u_fold),
        "hopf": 1 / (3 - 8 * math.exp(-5 / 3)),
    }


def predator_prey():
    """u1' = 3u1(1-u1) - u1 u2 - p(1 - e^(-5 u1)), u2' = -u2 + 3 u1 u2."""
    equations = [
        "3*u1*(1 - u1) - u1*u2 - p*(1 - exp(-5*u1))",
        "-u2 + 3*u1*u2",
    ]
    system = bifurc.System.from_equations(equations, ["u1", "u2"], {"p": 0.0})
    refs = predator_prey_references()

    expected = (
        Expected("BP", refs["bp_trivial"], "transcritical"),
        Expected("BP", refs["bp_prey"], "transcritical"),
        Expected("LP", refs["lp_prey"], "saddle-node"),
        Expected("H", refs["hopf"], "hopf"),
    )

    return Problem(
        "predator-prey", system, np.zeros(2), "p", (0.0, 1.0), expected=expected
    )


# ----------------------------------------------------------------------
# Hopfield networks


def hopfield_weights(n=5, seed=7):
    """A symmetric weight matrix with a simple top eigenvalue, zero diagonal."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    w = (a + a.T) / math.sqrt(2 * n)
    np.fill_diagonal(w, 0.0)

    return w


def hopfield(weights=None, bias=None, symmetrizer=True):
    """x' = -x + W tanh(beta x) + b, continued in beta (from_callable).

    With b = 0, the origin loses stability in a pitchfork at
    beta = 1 / lambda_max(W).  ``symmetrizer=True`` supplies the symmetric
    matrix G^(1/2) (beta W - I) G^(1/2)-similar to f_x, so that stability
    comes from symmetric solvers.
    """
    w = hopfield_weights() if weights is None else np.asarray(weights, dtype=float)
    n = w.shape[0]
    b = np.zeros(n) if bias is None else np.asarray(bias, dtype=float)

    def f(x, p):
        return -x + w @ np.tanh(p[0] * x) + b

    def jac(x, p):
        slope = 1 - np.tanh(p[0] * x) ** 2
        return -np.eye(n) + p[0] * w * slope

    def pjac(x, p):
        slope = 1 - np.tanh(p[0] * x) ** 2
        return (w @ (slope * x)).reshape(n, 1)

    def symmetric(x, p):
        root = np.sqrt(1 - np.tanh(p[0] * x) ** 2)
        return -np.eye(n) + p[0] * root[:, None] * w * root[None, :]

    system = bifurc.System.from_callable(
        f, n, {"beta": 0.1}, jacobian=jac, param_jacobian=pjac, name="hopfield"
    )

    if symmetrizer:
        system = dataclasses.replace(system, symmetrizer=symmetric)
    eigenvalues = np.linalg.eigvalsh(w)
    top = eigenvalues[-1]
    p_range = (0.1, 2.5 / top)
    crossings = [1 / lam for lam in eigenvalues[::-1] if lam * p_range[1] > 1]

    expected = (
        () if b.any() else tuple(Expected("BP", v, "pitchfork") for v in crossings)
    )

    return Problem("hopfield", system, np.zeros(n), "beta", p_range, expected=expected)


def benchmark_hopfield(n, seed=20240501):
    """The benchmark network: W = (A + A^T)/sqrt(2n), zero diagonal, bias b."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    w = (a + a.T) / math.sqrt(2 * n)
    np.fill_diagonal(w, 0.0)
    b = 0.05 * rng.standard_normal(n)
    problem = hopfield(w, b)

    return dataclasses.replace(problem, x0=b.copy(), p_range=(0.1, 3.0))


# ----------------------------------------------------------------------
# Sparse one-dimensional Bratu problem


def bratu1d(n=40, sparse=True):
    """u'' + lam e^u = 0 on (0, 1), u(0) = u(1) = 0, n interior points.

    A gradient system (symmetric Jacobian) with one fold on the branch from
    u = 0; `bratu1d_fold` computes its location independently.
    """
    h = 1.0 / (n + 1)
    lap = sp.diags([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)], [-1, 0, 1])
    lap = sp.csr_matrix(lap / h**2)

    def f(u, p):
        return lap @ u + p[0] * np.exp(u)

    def jac(u, p):
        matrix = lap + sp.diags(p[0] * np.exp(u))
        return sp.csc_matrix(matrix) if sparse else matrix.toarray()

    def pjac(u, p):
        return np.exp(u).reshape(n, 1)

    system = bifurc.System.from_callable(
        f,
        n,
        {"lam": 0.0},
        jacobian=jac,
        param_jacobian=pjac,
        gradient=True,
        sparse=sparse,
        name="bratu1d",
    )

    return Problem(
        "bratu1d",
        system,
        np.zeros(n),
        "lam",
        (0.5, 4.0),
        p0=0.5,
        expected=(Expected("LP", bratu1d_fold(n), "saddle-node"),),
    )


def bratu1d_fold(n):
    """The fold of the discrete problem by an independent shooting method.

    The discrete equations are a recurrence: given u_1 = c (and u_0 = 0),
    u_{k+1} = 2 u_k - u_{k-1} - h^2 lam e^{u_k}.  For fixed lam, the
    boundary mismatch m(c) = u_{n+1} vanishes at solutions; the fold is the
    largest lam with a root, where m has a double root: max over c of the
    lam solving m(c, lam) = 0 on the lower branch.
    """
    h = 1.0 / (n + 1)

    def mismatch(c, lam):
        prev, cur = 0.0, c
        for _ in range(n):
            prev, cur = cur, 2 * cur - prev - h * h * lam * math.exp(cur)

        return cur

    def lam_of(c):
        return _brentq(lambda lam: mismatch(c, lam), 0.0, 20.0)

    result = scipy.optimize.minimize_scalar(
        lambda c: -lam_of(c),
        bounds=(0.01, 0.5),
        method="bounded",
        options={"xatol": 1e-12},
    )

    return lam_of(result.x)


def pitchforks_rhs(x, p):
    """u' = p u - u^3, v' = (p/2 - 1) v - v^3."""
    return np.array([p[0] * x[0] - x[0] ** 3, (0.5 * p[0] - 1) * x[1] - x[1] ** 3])


def pitchforks_system(f=pitchforks_rhs):
    """Two decoupled pitchforks, at p = 0 (in u) and p = 2 (in v).

    `f` may wrap `pitchforks_rhs` (to count or interrupt calls); the
    Jacobians are exact.
    """

    def jacobian(x, p):
        return np.diag([p[0] - 3 * x[0] ** 2, 0.5 * p[0] - 1 - 3 * x[1] ** 2])

    return bifurc.System.from_callable(
        f,
        ["u", "v"],
        {"p": -1.0},
        jacobian=jacobian,
        param_jacobian=lambda x, p: np.array([[x[0]], [0.5 * x[1]]]),
        box=([-3.0, -3.0], [3.0, 3.0]),
    )


# Non-symmetric weights without bias: the origin is a rest point for every
# gain beta, with Jacobian -I + beta W (tanh, leak 1), so an eigenvalue
# lambda of W crosses the imaginary axis at beta = 1 / Re(lambda).
SMALL_NETWORK = [
    [0.1, -0.2, -0.3, 0.1, -0.3, 0.4],
    [-0.1, 0.9, -1.0, -0.5, -1.3, -2.5],
    [-3.3, 0.1, -1.2, -1.1, -0.9, 0.6],
    [0.9, 1.0, 1.4, 4.5, 0.4, 0.2],
    [-3.3, -2.5, 3.3, 4.1, 0.7, -0.1],
    [0.8, -3.1, -0.8, -0.6, 2.6, -1.5],
]


CATALOGUE = {
    "fold": fold,
    "pitchfork": pitchfork,
    "subcritical": lambda: pitchfork(subcritical=True),
    "transcritical": transcritical,
    "cusp": cusp,
    "enzyme": enzyme,
    "bratu2": bratu2,
    "predator-prey": predator_prey,
    "hopfield": hopfield,
    "bratu1d": bratu1d,
}
