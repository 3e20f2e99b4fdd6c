"""Stress: 200 random Hopfield networks and 200 random planar gradient systems.

Each system is continued over a parameter interval (a few small ones through
their branch points as well).  Nothing may crash, no output may hold NaN, and
every special point reported is checked afterwards with numpy alone:

* LP: f = 0 and f_x singular (smallest singular value tiny relative to the
  norm), or, for a point reported as not converged, a sign change of the
  tangent's parameter component between its neighbours;
* BP: f = 0 and ``[f_x, f_p]`` rank deficient, or a sign change of
  ``det [[f_x, f_p], [t^T]]`` between its neighbours;
* H: f = 0 and a complex pair of eigenvalues (numpy.linalg.eigvals) on the
  imaginary axis, or a change in the number of complex eigenvalues with
  positive real part between its neighbours.

Runs are bounded (small max_steps) and seeded, so the test is repeatable.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest
from invariants import check_branch
from numpy.polynomial import polynomial as poly

import bifurc
import bifurc.models

pytestmark = pytest.mark.slow

N_SYSTEMS = 200

# Relative size below which a singular value (LP, BP) or a real part (H)
# counts as zero at a located point: location is to ~1e-10 in the parameter
# and ~1e-9 in arclength, which the singular value follows linearly.
SINGULAR_RTOL = 1e-6

# Residual of a rest point relative to the size of the terms of f.
RESIDUAL_RTOL = 1e-8

# An eigenvalue with imaginary part below this (relative) is real.
IMAG_RTOL = 1e-8

# Each kind must be met this often, or the stress test did not stress it.
MIN_CHECKED = {"LP": 30, "BP": 20, "H": 20}

CONTINUATION = {"max_steps": 80, "ds": 0.05, "ds_max": 0.2}


@dataclass
class Tally:
    """What was checked, and every failure found (reported all at once)."""

    checked: dict = field(default_factory=lambda: {"LP": 0, "BP": 0, "H": 0})
    failures: list = field(default_factory=list)

    def fail(self, case, text):
        self.failures.append(f"{case}: {text}")

    def report(self):
        head = f"{len(self.failures)} failures; checked {self.checked}"
        return "\n".join([head, *self.failures[:40]])


# ----------------------------------------------------------------------
# Independent checks of one branch


def _dense(matrix):
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def _parameters(branch, value):
    p = np.array(branch.p_fixed, dtype=float)
    p[branch.param_index] = value
    return p


def _augmented(system, x, p, k):
    return np.column_stack([_dense(system.fx(x, p)), system.fp(x, p, k)])


def _smallest_singular_share(matrix):
    values = np.linalg.svd(matrix, compute_uv=False)
    return values[-1] / max(values[0], 1.0)


def _fold_test(branch, i):
    return branch.tangent[i, -1]


def _branch_point_test(branch, i):
    system, k = branch.system, branch.param_index
    p = branch.params_at(i)
    bordered = np.vstack([_augmented(system, branch.x[i], p, k), branch.tangent[i]])
    return np.linalg.slogdet(bordered)[0]


def _complex_unstable(system, x, p):
    values = np.linalg.eigvals(_dense(system.fx(x, p)))
    scale = max(1.0, np.max(np.abs(values)))
    complex_ = np.abs(values.imag) > IMAG_RTOL * scale
    return int(np.sum(complex_ & (values.real > 0)))


def _located_ok(branch, point):
    """Whether a located point satisfies its defining condition."""
    system, k = branch.system, branch.param_index
    x, p = np.asarray(point.x), _parameters(branch, point.value)
    if point.label == "LP":
        return _smallest_singular_share(_dense(system.fx(x, p))) <= SINGULAR_RTOL
    if point.label == "BP":
        return _smallest_singular_share(_augmented(system, x, p, k)) <= SINGULAR_RTOL

    values = np.linalg.eigvals(_dense(system.fx(x, p)))
    scale = max(1.0, np.max(np.abs(values)))
    pair = values[np.abs(values.imag) > IMAG_RTOL * scale]
    return pair.size > 0 and np.min(np.abs(pair.real)) <= SINGULAR_RTOL * scale


def _bracketed_ok(branch, point):
    """Whether the defining quantity changes between the two neighbours."""
    i = point.index
    if point.label == "LP":
        return _fold_test(branch, i) * _fold_test(branch, i + 1) <= 0
    if point.label == "BP":
        return _branch_point_test(branch, i) != _branch_point_test(branch, i + 1)
    counts = [
        _complex_unstable(branch.system, branch.x[j], branch.params_at(j))
        for j in (i, i + 1)
    ]
    return counts[0] != counts[1]


def _residual_ok(branch, point):
    f = branch.system.f(np.asarray(point.x), _parameters(branch, point.value))
    scale = 1.0 + np.max(np.abs(point.x))
    return np.max(np.abs(f)) <= RESIDUAL_RTOL * scale


def _check_outputs_finite(branch, case, tally):
    arrays = [branch.x, branch.p, branch.s, branch.tangent, *branch.eigenvalues]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        tally.fail(case, "NaN or inf in the branch arrays")

    table = branch.to_dataframe()
    columns = [branch.param, *branch.system.variables, "arclength", "n_unstable"]
    if table[columns].isna().any().any():
        tally.fail(case, "NaN in the branch table")


def check(branch, case, tally):
    """Check one branch and all its special points; record what fails."""
    _check_outputs_finite(branch, case, tally)
    if branch.status is bifurc.Status.FAILED:
        # A switch that could not start: one point (the BP) and the reason.
        if len(branch) != 1 or "switching failed" not in branch.message:
            tally.fail(case, f"unexpected failed branch: {branch.message}")
        return
    try:
        check_branch(branch, located_rtol=1e-7)
    except AssertionError as exc:
        tally.fail(case, f"branch invariant: {exc}")

    for point in branch.special_points:
        if point.label == "EP":
            continue
        if not _residual_ok(branch, point):
            tally.fail(case, f"{point} is not a rest point")
        elif point.converged and not _located_ok(branch, point):
            tally.fail(case, f"{point} fails its defining condition")
        elif not point.converged and not _bracketed_ok(branch, point):
            tally.fail(case, f"{point} is not bracketed by its neighbours")
        else:
            tally.checked[point.label] += 1


# ----------------------------------------------------------------------
# Random Hopfield networks


def _random_network(rng, index):
    """A network with n = 2..50 units, symmetric or not, random gains and bias."""
    n = int(rng.integers(2, 51))
    weights = rng.standard_normal((n, n)) * rng.uniform(0.5, 3.0) / np.sqrt(n)
    if index % 2 == 0:
        weights = (weights + weights.T) / 2

    with_bias = index % 4 >= 2
    bias = rng.standard_normal(n) * rng.uniform(0.1, 1.0) if with_bias else None
    activation = str(rng.choice(list(bifurc.models.ACTIVATIONS)))
    leak = float(rng.uniform(0.5, 2.0))
    return bifurc.models.hopfield(
        weights, bias, beta=0.0, leak=leak, activation=activation
    )


def _continue_network(system):
    """Continue in the gain from beta = 0, where the rest point is explicit."""
    p = system.defaults
    leak = p[system.param_index("leak")]
    x0 = system.f(np.zeros(system.n), p) / leak

    beta_max = 4.0 * leak
    if system.n <= 8:
        options = {**CONTINUATION, "max_depth": 1}
        return bifurc.diagram(system, x0, "beta", (0.0, beta_max), **options).branches
    return (bifurc.continuation(system, x0, "beta", (0.0, beta_max), **CONTINUATION),)


# ----------------------------------------------------------------------
# Random planar gradient systems


class _Polynomial:
    """E(x, y; p) = C(x, y) + p D(x, y), a quartic with a coercive top part."""

    def __init__(self, rng):
        top = rng.uniform(0.2, 2.0)
        self.energy = np.zeros((5, 5))
        self.energy[4, 0] = self.energy[0, 4] = top / 4
        self.energy[2, 2] = top / 2

        for i in range(4):
            for j in range(4 - i):
                if i + j >= 1:
                    self.energy[i, j] += rng.normal(0.0, 1.0 / (1 + i + j))

        self.tilt = np.zeros((3, 3))
        self.tilt[1, 0], self.tilt[0, 1] = rng.normal(size=2)
        self.tilt[2, 0], self.tilt[0, 2] = rng.normal(0.0, 0.3, size=2)

    def _coefficients(self, p):
        full = self.energy.copy()
        full[:3, :3] += p * self.tilt
        return full

    def value(self, x, p):
        return float(poly.polyval2d(x[0], x[1], self._coefficients(p[0])))

    def rhs(self, x, p):
        c = self._coefficients(p[0])
        return -np.array(
            [
                poly.polyval2d(x[0], x[1], poly.polyder(c, axis=0)),
                poly.polyval2d(x[0], x[1], poly.polyder(c, axis=1)),
            ]
        )

    def jacobian(self, x, p):
        c = self._coefficients(p[0])
        dx, dy = poly.polyder(c, axis=0), poly.polyder(c, axis=1)
        xx = poly.polyval2d(x[0], x[1], poly.polyder(dx, axis=0))
        xy = poly.polyval2d(x[0], x[1], poly.polyder(dx, axis=1))
        yy = poly.polyval2d(x[0], x[1], poly.polyder(dy, axis=1))
        return -np.array([[xx, xy], [xy, yy]])

    def param_jacobian(self, x, p):
        dx, dy = poly.polyder(self.tilt, axis=0), poly.polyder(self.tilt, axis=1)
        return -np.array(
            [[poly.polyval2d(x[0], x[1], dx)], [poly.polyval2d(x[0], x[1], dy)]]
        )


def _random_gradient_system(rng):
    energy = _Polynomial(rng)
    return bifurc.System.from_callable(
        energy.rhs,
        ["x", "y"],
        {"p": -2.0},
        jacobian=energy.jacobian,
        param_jacobian=energy.param_jacobian,
        energy=energy.value,
        box=([-4.0, -4.0], [4.0, 4.0]),
    )


def _continue_gradient(system, rng):
    """Continue from a sink found by Newton at p = -2 (None if none found)."""
    for start in rng.uniform(-2.0, 2.0, size=(8, 2)):
        x, converged, _ = bifurc.find_equilibrium(system, start, [-2.0])
        if converged and np.max(np.abs(x)) < 4.0:
            return bifurc.continuation(system, x, "p", (-2.0, 2.0), **CONTINUATION)
    return None


# ----------------------------------------------------------------------
# The tests


def _stress_networks(symmetric):
    """Continue N_SYSTEMS / 2 random networks; the tally of the checks."""
    rng, tally = np.random.default_rng(20240611 + symmetric), Tally()
    for index in range(N_SYSTEMS // 2):
        system = _random_network(rng, 2 * index + (not symmetric))
        case = f"network {index} (n = {system.n}, {system.description})"

        try:
            branches = _continue_network(system)
        except Exception as exc:
            tally.fail(case, f"raised {type(exc).__name__}: {exc}")
            continue
        for number, branch in enumerate(branches):
            check(branch, f"{case}, branch {number}", tally)
    return tally


def test_random_symmetric_hopfield_networks():
    tally = _stress_networks(symmetric=True)
    assert not tally.failures, tally.report()
    assert tally.checked["BP"] >= MIN_CHECKED["BP"], tally.report()


def test_random_nonsymmetric_hopfield_networks():
    tally = _stress_networks(symmetric=False)
    assert not tally.failures, tally.report()
    assert tally.checked["H"] >= MIN_CHECKED["H"], tally.report()


def _origin_events(rng, symmetric):
    """A network without bias, its gain range and the events at the origin.

    With b = 0 the origin is a rest point for every gain, with Jacobian
    ``-leak I + beta g'(0) W``: an eigenvalue lambda of W crosses at
    ``beta = leak / (g'(0) Re lambda)``, a BP if lambda is real, an H if not.
    """
    n = int(rng.integers(2, 31))
    weights = rng.standard_normal((n, n)) * rng.uniform(0.5, 3.0) / np.sqrt(n)
    if symmetric:
        weights = (weights + weights.T) / 2

    leak = float(rng.uniform(0.5, 2.0))
    activation = str(rng.choice(["tanh", "arctan", "erf", "algebraic"]))
    system = bifurc.models.hopfield(weights, beta=0.0, leak=leak, activation=activation)

    beta_max = 4.0 * leak
    events = {"BP": set(), "H": set()}
    for value in np.linalg.eigvals(weights):
        if value.real > 0 and leak / value.real < beta_max:
            label = "H" if abs(value.imag) > 1e-9 * abs(value) else "BP"
            events[label].add(round(leak / value.real, 12))
    return system, beta_max, {k: sorted(v) for k, v in events.items()}


@pytest.mark.parametrize(
    "symmetric",
    [True, False],
    ids=["symmetric", "nonsymmetric"],
)
def test_origin_events_of_random_networks_have_the_closed_form(symmetric):
    rng, wrong = np.random.default_rng(7 + symmetric), []
    for index in range(30):
        system, beta_max, expected = _origin_events(rng, symmetric)
        branch = bifurc.continuation(
            system, np.zeros(system.n), "beta", (0.0, beta_max), **CONTINUATION
        )
        for label in ("BP", "H"):
            found = sorted(
                sp.value for sp in branch.special_points if sp.label == label
            )
            same = len(found) == len(expected[label]) and np.allclose(
                found, expected[label], rtol=1e-9
            )
            if not same:
                wrong.append(
                    f"{index} {label}: expected {expected[label]}, got {found}"
                )
    assert not wrong, "\n".join(wrong)


def test_random_planar_gradient_systems():
    rng, tally = np.random.default_rng(19840101), Tally()
    started = 0
    for index in range(N_SYSTEMS):
        system = _random_gradient_system(rng)
        case = f"gradient system {index}"

        try:
            branch = _continue_gradient(system, rng)
        except Exception as exc:
            tally.fail(case, f"raised {type(exc).__name__}: {exc}")
            continue
        if branch is not None:
            started += 1
            check(branch, case, tally)
            if any(point.label == "H" for point in branch.special_points):
                tally.fail(case, "a Hopf point in a gradient system")

    assert started >= 0.9 * N_SYSTEMS
    assert not tally.failures, tally.report()
    assert tally.checked["LP"] >= MIN_CHECKED["LP"], tally.report()
