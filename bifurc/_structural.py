"""Structural stability of a flow at one parameter value: a checklist.

A flow is structurally stable (Morse-Smale, for gradient-like flows) when
its rest points are hyperbolic, stable and unstable manifolds meet
transversally (in particular no orbit joins two saddles of the same Morse
index), and there is no non-hyperbolic recurrence such as a periodic orbit
born in a Hopf bifurcation.  `structural_stability` checks what can be
checked numerically and says, for each condition, passed, failed or unknown,
with the numbers behind the verdict.

References: Palis & de Melo, "Geometric Theory of Dynamical Systems", 1982;
Kuznetsov, "Elements of Applied Bifurcation Theory", ch. 2 (topological
equivalence, structural stability) and ch. 3 (codimension one).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np
import scipy.integrate
import scipy.linalg
import scipy.sparse as sp

from ._errors import InputError
from ._landscape import find_rest_points, resolve_box
from ._status import Status

__all__ = ["Condition", "StructuralReport", "structural_stability"]

logger = logging.getLogger(__name__)

# An eigenvalue lies on the imaginary axis when |Re| is below this times
# max(1, spectral radius).  Near a fold or a degenerate point f is quadratic
# along the critical direction, so a rest point there is determined only to
# about sqrt(eps) ~ 1e-8, and so is its critical eigenvalue: the tolerance
# sits two orders above that.
HYPERBOLIC_RTOL = 1e-6

# An eigenvalue is complex when |Im| exceeds this times its modulus (the
# eigenvalues of a matrix similar to a symmetric one carry rounding noise).
COMPLEX_RTOL = 1e-7

# f_x counts as symmetric when |J - J^T| <= this times max(1, |J|).
SYMMETRY_RTOL = 1e-10

# Random points (besides the rest points) where the symmetry of f_x is tested.
N_SYMMETRY_SAMPLES = 8

# Trajectories integrated to look for periodic orbits in non-gradient flows,
# their duration, and the state size above which this is skipped by default.
N_TRAJECTORIES = 6
T_MAX = 100.0
SIMULATE_MAX_N = 50

# A trajectory has settled when |f| falls below this (relative to the box
# size); it has returned (recurrence) when it comes back within this share
# of the box size of its final point.
SETTLE_RTOL = 1e-7
RETURN_RTOL = 1e-3

# ... and when its speed does not decay: the largest |f| over the last
# quarter of the run is at least this share of that over the third quarter
# (a slowly attracting focus decays; a periodic orbit does not).
RECURRENCE_STEADY = 0.995

# Full eigenvalues are computed densely; above this size the check refuses.
DENSE_LIMIT = 3000

# Newton steps polishing each rest point (census or supplied) while the
# residual keeps falling: at a degenerate rest point Newton converges only
# linearly, and the eigenvalues there are as small as the distance to it.
POLISH_MAX_STEPS = 80


@dataclasses.dataclass(frozen=True)
class Condition:
    """One condition of structural stability.

    Attributes
    ----------
    name : str
        ``"hyperbolic"``, ``"generic"``, ``"gradient-like"``,
        ``"no-saddle-connection"``, ``"no-periodic-orbit"``, or one added by
        a model (``"isolated-rest-points"``, ``"simple-first-instability"``
        for Hopfield networks).
    passed : bool or None
        None when it could not be decided.
    message : str
        Why, with the numbers.
    """

    name: str
    passed: bool | None
    message: str

    def __str__(self):
        mark = {True: " ok ", False: "FAIL", None: " ?  "}[self.passed]
        return f"[{mark}] {self.name}: {self.message}"


@dataclasses.dataclass(frozen=True, eq=False)
class StructuralReport:
    """The structural-stability checklist of a flow at one parameter vector.

    Attributes
    ----------
    system : str
        The system's name.
    parameters : dict
        Parameter names and values.
    conditions : tuple of Condition
    rest_points : ndarray, shape (k, n)
        The rest points examined (found or supplied, polished by Newton).
    eigenvalues : tuple of ndarray
        Eigenvalues of f_x at each rest point, by decreasing real part.
    morse_indices : ndarray of int, shape (k,)
        Number of eigenvalues with positive real part at each rest point.
    status : Status
    message : str
    """

    system: str
    parameters: dict
    conditions: tuple
    rest_points: np.ndarray
    eigenvalues: tuple
    morse_indices: np.ndarray
    status: Status = Status.SUCCESS
    message: str = ""

    @property
    def stable(self):
        """False if a condition failed, None if one is unknown, else True."""
        verdicts = [c.passed for c in self.conditions]
        if False in verdicts:
            return False
        return None if None in verdicts else True

    def condition(self, name):
        """The `Condition` called `name` (KeyError naming the known ones)."""
        for condition in self.conditions:
            if condition.name == name:
                return condition
        known = [c.name for c in self.conditions]
        raise KeyError(f"no condition {name!r}; the report has {known}")

    def to_dataframe(self):
        """One row per condition: ``name, passed, message``."""
        import pandas as pd

        rows = [dataclasses.asdict(c) for c in self.conditions]
        return pd.DataFrame(rows, columns=["name", "passed", "message"])

    def __str__(self):
        values = ", ".join(f"{k} = {v:.10g}" for k, v in self.parameters.items())
        verdict = {True: "structurally stable", False: "not structurally stable"}
        lines = [f"Structural stability of {self.system or 'the system'} at {values}"]
        lines.append(f"  {self.message}")
        lines += [f"  {condition}" for condition in self.conditions]
        lines.append(f"  verdict: {verdict.get(self.stable, 'undecided')}")
        return "\n".join(lines)


def structural_stability(
    system,
    p=None,
    *,
    rest_points=None,
    graph=None,
    box=None,
    n_starts=64,
    seed=0,
    simulate=None,
    hyperbolic_rtol=HYPERBOLIC_RTOL,
    verbose=0,
):
    """Check the conditions of structural stability of `system` at `p`.

    Parameters
    ----------
    system : System
    p : array_like, shape (m,), or dict, optional
        The full parameter vector, or a dict of values overriding the
        defaults (the defaults when omitted).
    rest_points : array_like, shape (k, n), optional
        Rest points to examine; by default they are found by multi-start
        Newton with deflation inside `box` (`bifurc._landscape`).
    graph : RestPointGraph or networkx.DiGraph, optional
        Connections between rest points (edges source -> target; for a
        networkx graph the nodes need a ``morse_index`` attribute).  Without
        it the saddle-connection condition is unknown.
    box : tuple of two array_like, optional
        Search region; ``system.box`` by default.
    n_starts, seed : int
        Starting points of the rest-point search and their seed.
    simulate : bool, optional
        Integrate a few trajectories to look for periodic orbits when the
        flow is not known to be gradient-like (default: when n <= 50).
    hyperbolic_rtol : float
        Eigenvalues with ``|Re| <= hyperbolic_rtol * max(1, |lambda|_max)``
        lie on the imaginary axis.
    verbose : int
        1 logs the report at INFO level.

    Returns
    -------
    StructuralReport
        Conditions ``hyperbolic``, ``generic``, ``gradient-like``,
        ``no-saddle-connection``, ``no-periodic-orbit``, then any added by
        the model (Hopfield networks: ``isolated-rest-points``,
        ``simple-first-instability``).

    Notes
    -----
    Only the rest points found are examined: a search that misses one can
    miss a failed condition.  ``gradient-like`` is decided from structure
    (an energy, ``system.gradient``, a model's own knowledge such as a
    Hopfield network with symmetric W), from complex eigenvalues (which no
    gradient flow has, in any metric), or from the symmetry of f_x at
    sampled points; otherwise it is unknown.  The periodic-orbit check
    integrates trajectories for a fixed time, so a slowly attracting orbit
    can be missed.
    """
    p = _parameter_vector(system, p)
    if system.n > DENSE_LIMIT:
        raise InputError(
            f"structural_stability computes dense eigenvalues and supports "
            f"n <= {DENSE_LIMIT}; the system has n = {system.n}"
        )
    box = resolve_box(system, box)
    points, status, message = _rest_points(system, p, rest_points, box, n_starts, seed)
    spectra, on_axis, indices = _spectra(system, p, points, hyperbolic_rtol)

    model = getattr(system.rhs, "__self__", None)
    gradient = _gradient_like(system, p, points, spectra, model, box, seed)
    conditions = [
        _hyperbolic(points, spectra, on_axis),
        _generic(points, spectra, on_axis),
        gradient,
        _saddle_connections(graph, system.n),
        _periodic_orbits(
            system, p, points, spectra, on_axis, gradient, box, seed, simulate
        ),
    ]
    conditions += [Condition(*check) for check in _model_checks(model, p)]

    report = StructuralReport(
        system=system.name,
        parameters=dict(zip(system.parameters, p.tolist(), strict=True)),
        conditions=tuple(conditions),
        rest_points=np.reshape(points, (-1, system.n)),
        eigenvalues=tuple(spectra),
        morse_indices=indices,
        status=status,
        message=message + _census_summary(indices, on_axis, system.n),
    )
    if verbose:
        logger.info("%s", report)
    return report


# ----------------------------------------------------------------------
# Rest points and spectra


def _parameter_vector(system, p):
    if p is None:
        return np.array(system.defaults)
    if isinstance(p, dict):
        return system.parameter_vector(p)
    vector = np.array(p, dtype=float).reshape(-1)
    if vector.shape != (system.m,) or not np.all(np.isfinite(vector)):
        raise InputError(
            f"p must be a finite parameter vector of length {system.m} "
            f"({list(system.parameters)}) or a dict, got {p!r}"
        )
    return vector


def _rest_points(system, p, rest_points, box, n_starts, seed):
    """Rest points to examine, polished by Newton, with a status and message."""
    if rest_points is None:
        with warnings.catch_warnings():
            # Singular Jacobians are expected at non-isolated rest points.
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            census = find_rest_points(system, p, box=box, n_starts=n_starts, seed=seed)
        points = [np.array(r.x) for r in census.rest_points]
        status, message = census.status, f"{census.message}; "
    else:
        given = np.asarray(rest_points, dtype=float).reshape(-1, system.n)
        points = [
            system.check_state(x, f"rest_points[{i}]") for i, x in enumerate(given)
        ]
        status, message = Status.SUCCESS, f"{len(points)} rest points supplied; "

    points = [_polish(system, x, p) for x in points]
    if not all(np.all(np.isfinite(system.f(x, p))) for x in points):
        status = Status.NON_FINITE
    return points, status, message


def _polish(system, x, p):
    """A few Newton steps, each kept only if it lowers the residual."""
    value = np.asarray(system.f(x, p), dtype=float)
    for _ in range(POLISH_MAX_STEPS):
        if not np.any(value):
            break
        jac = _dense(system.fx(x, p))
        try:
            step = np.linalg.solve(jac, -value)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(jac, -value, rcond=None)[0]

        trial = x + step
        trial_value = np.asarray(system.f(trial, p), dtype=float)
        if not np.max(np.abs(trial_value)) < np.max(np.abs(value)):
            break
        x, value = trial, trial_value
    return x


def _dense(matrix):
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix, dtype=float)


def _spectrum(system, x, p):
    """Eigenvalues of f_x at (x, p) by decreasing real part, as complex numbers.

    Symmetric eigensolvers where the structure allows: the symmetrizer of a
    Hopfield network, the Jacobian of a gradient flow.
    """
    if system.symmetrizer is not None:
        values = scipy.linalg.eigvalsh(_dense(system.symmetrizer(x, p)))
    elif system.gradient:
        jac = _dense(system.fx(x, p))
        values = scipy.linalg.eigvalsh((jac + jac.T) / 2)
    else:
        values = scipy.linalg.eigvals(_dense(system.fx(x, p)))

    values = np.asarray(values, dtype=complex)
    return values[np.lexsort((-values.imag, -values.real))]


def _spectra(system, p, points, hyperbolic_rtol):
    """Eigenvalues, on-axis masks and Morse indices at every rest point."""
    spectra = [_spectrum(system, x, p) for x in points]
    on_axis, indices = [], []
    for values in spectra:
        scale = max(1.0, float(np.max(np.abs(values), initial=0.0)))
        axis = np.abs(values.real) <= hyperbolic_rtol * scale
        on_axis.append(axis)
        indices.append(int(np.sum((values.real > 0) & ~axis)))
    return spectra, on_axis, np.array(indices, dtype=int)


def _census_summary(indices, on_axis, n):
    if len(indices) == 0:
        return "no rest point found"

    kinds = []
    for index, axis in zip(indices, on_axis, strict=True):
        if np.any(axis):
            kinds.append("non-hyperbolic")
        elif index == 0:
            kinds.append("sink")
        else:
            kinds.append("source" if index == n else f"index-{index} saddle")

    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    parts = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    return f"{len(indices)} rest points examined ({parts})"


def _fmt_eigenvalues(values, limit=4):
    parts = [_fmt_complex(v) for v in values[:limit]]
    return ", ".join(parts) + (", ..." if len(values) > limit else "")


def _fmt_complex(value):
    if value.imag == 0:
        return f"{value.real:.3g}"
    return f"{value.real:.3g}{value.imag:+.3g}i"


def _fmt_state(x):
    return np.array2string(np.asarray(x), precision=6, threshold=6, separator=", ")


# ----------------------------------------------------------------------
# Conditions


def _hyperbolic(points, spectra, on_axis):
    if not points:
        return Condition("hyperbolic", None, "no rest point found in the box")

    bad = [i for i, axis in enumerate(on_axis) if np.any(axis)]
    if bad:
        details = "; ".join(
            f"rest point {i} at {_fmt_state(points[i])} has eigenvalues "
            f"{_fmt_eigenvalues(spectra[i][on_axis[i]])} on the imaginary axis"
            for i in bad[:3]
        )
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        return Condition(
            "hyperbolic",
            False,
            f"{len(bad)} of {len(points)} rest points are not hyperbolic: "
            f"{details}{more}",
        )

    gaps = [float(np.min(np.abs(s.real))) for s in spectra]
    worst = int(np.argmin(gaps))
    return Condition(
        "hyperbolic",
        True,
        f"all {len(points)} rest points found are hyperbolic; the smallest "
        f"|Re eigenvalue| is {gaps[worst]:.3g}, at rest point {worst} "
        f"{_fmt_state(points[worst])}",
    )


def _critical_count(values):
    """Codimension count of eigenvalues on the axis: a real one or a pair is one."""
    imaginary = np.abs(values.imag) > COMPLEX_RTOL * np.maximum(np.abs(values), 1e-300)
    return int(np.sum(~imaginary) + np.sum(imaginary) // 2)


def _generic(points, spectra, on_axis):
    counts = [_critical_count(s[a]) for s, a in zip(spectra, on_axis, strict=True)]
    degenerate = [i for i, count in enumerate(counts) if count > 1]

    if degenerate:
        i = degenerate[0]
        return Condition(
            "generic",
            False,
            f"degenerate: rest point {i} at {_fmt_state(points[i])} has "
            f"{int(np.sum(on_axis[i]))} eigenvalues on the imaginary axis together "
            f"({_fmt_eigenvalues(spectra[i][on_axis[i]])}), a bifurcation of "
            f"codimension {counts[i]}: not generic in a one-parameter family "
            f"unless forced by symmetry",
        )
    if any(counts):
        return Condition(
            "generic",
            True,
            "each non-hyperbolic rest point has a single zero eigenvalue or a "
            "single imaginary pair: a codimension-one bifurcation",
        )
    return Condition("generic", True, "no rest point is on a local bifurcation")


def _gradient_like(system, p, points, spectra, model, box, seed):
    name = "gradient-like"
    if system.energy is not None:
        return Condition(name, True, "an energy E with f = -grad E is known")
    if system.gradient:
        return Condition(name, True, "f_x is symmetric (declared): a gradient flow")

    known = getattr(model, "gradient_like", None)
    verdict = known(p) if callable(known) else None
    if verdict is not None:
        return Condition(name, *verdict)

    for i, values in enumerate(spectra):
        imaginary = np.abs(values.imag) > COMPLEX_RTOL * np.abs(values)
        if np.any(imaginary):
            return Condition(
                name,
                False,
                f"rest point {i} at {_fmt_state(points[i])} has complex eigenvalues "
                f"{_fmt_eigenvalues(values[imaginary])}: no gradient flow (in any "
                f"metric) has them",
            )
    return _symmetry_sample(system, p, points, box, seed)


def _symmetry_sample(system, p, points, box, seed):
    """Symmetry of f_x at the rest points and at random points of the box."""
    lower, upper = box
    rng = np.random.default_rng(seed)
    samples = list(points) + list(
        rng.uniform(lower, upper, (N_SYMMETRY_SAMPLES, system.n))
    )

    worst, where = 0.0, samples[0]
    for x in samples:
        jac = _dense(system.fx(x, p))
        asymmetry = np.max(np.abs(jac - jac.T)) / max(1.0, np.max(np.abs(jac)))
        if asymmetry > worst:
            worst, where = float(asymmetry), x
    if worst <= SYMMETRY_RTOL:
        return Condition(
            "gradient-like",
            True,
            f"f_x is symmetric at all {len(samples)} sampled points (largest "
            f"relative asymmetry {worst:.2g}): a gradient flow, energy not supplied",
        )
    return Condition(
        "gradient-like",
        None,
        f"no energy is known and f_x is not symmetric (relative asymmetry "
        f"{worst:.3g} at {_fmt_state(where)}); the eigenvalues at the rest points "
        f"are real, so no evidence either way",
    )


def _graph_structure(graph):
    """Morse index per node and the list of (source, target) connections."""
    if hasattr(graph, "nodes") and not callable(graph.nodes):
        index = {node.id: int(node.morse_index) for node in graph.nodes}
        edges = [(e.source, e.target) for e in graph.edges if e.target is not None]
        return index, edges
    if hasattr(graph, "nodes") and hasattr(graph, "edges"):
        try:
            index = {u: int(data["morse_index"]) for u, data in graph.nodes(data=True)}
        except KeyError:
            raise InputError(
                "graph nodes need a 'morse_index' attribute (the number of "
                "unstable directions of each rest point)"
            ) from None
        return index, [(u, v) for u, v, *_ in graph.edges]
    raise InputError(
        f"graph must be a RestPointGraph or a networkx graph, "
        f"got {type(graph).__name__}"
    )


def _saddle_connections(graph, n):
    name = "no-saddle-connection"
    if graph is None:
        return Condition(
            name,
            None,
            "unknown: no connection graph given (pass graph=, e.g. the graph of "
            "bifurc.bifurcation_sequence(...).graph_at(p))",
        )

    index, edges = _graph_structure(graph)

    def saddle(node):
        return 0 < index.get(node, -1) < n

    bad = [(u, v) for u, v in edges if saddle(u) and saddle(v) and index[u] <= index[v]]

    if bad:
        u, v = bad[0]
        return Condition(
            name,
            False,
            f"an orbit joins saddle {u} (index {index[u]}) to saddle {v} (index "
            f"{index[v]}): a non-transversal connection ({len(bad)} in all), as at "
            f"a heteroclinic bifurcation",
        )
    return Condition(
        name,
        True,
        f"{len(edges)} connections, none from a saddle to a saddle of equal or "
        f"higher index",
    )


def _periodic_orbits(
    system, p, points, spectra, on_axis, gradient, box, seed, simulate
):
    name = "no-periodic-orbit"
    if gradient.passed:
        return Condition(name, True, "a gradient-like flow has no periodic orbit")

    for i, (values, axis) in enumerate(zip(spectra, on_axis, strict=True)):
        pair = values[axis & (np.abs(values.imag) > COMPLEX_RTOL * np.abs(values))]
        if pair.size:
            return Condition(
                name,
                False,
                f"rest point {i} at {_fmt_state(points[i])} has eigenvalues "
                f"{_fmt_eigenvalues(pair)} on the imaginary axis: a Hopf "
                f"bifurcation, with periodic orbits nearby",
            )

    if simulate is None:
        simulate = system.n <= SIMULATE_MAX_N
    if not simulate:
        return Condition(
            name,
            None,
            "not checked: the flow is not known to be gradient-like "
            "(pass simulate=True to integrate trajectories)",
        )
    return _trajectory_check(system, p, box, seed)


def _trajectory_check(system, p, box, seed):
    name = "no-periodic-orbit"
    lower, upper = box
    starts = np.random.default_rng(seed).uniform(
        lower, upper, (N_TRAJECTORIES, system.n)
    )
    outcomes = [_follow(system, p, x0, box) for x0 in starts]

    returned = [
        (x0, end)
        for x0, (kind, end) in zip(starts, outcomes, strict=True)
        if kind == "returned"
    ]
    if returned:
        x0, end = returned[0]
        return Condition(
            name,
            False,
            f"the trajectory from {_fmt_state(x0)} keeps returning near "
            f"{_fmt_state(end)} without settling (t = {T_MAX:g}): a periodic orbit "
            f"or another recurrent set",
        )

    kinds = [kind for kind, _ in outcomes]
    if "undecided" in kinds:
        return Condition(
            name,
            None,
            f"{kinds.count('undecided')} of {len(kinds)} trajectories neither "
            f"settled nor returned by t = {T_MAX:g}",
        )
    return Condition(
        name,
        True,
        f"no periodic orbit detected: {kinds.count('settled')} of {len(kinds)} "
        f"trajectories from random starts settled at rest points, "
        f"{kinds.count('escaped')} left the region",
    )


def _follow(system, p, x0, box):
    """Integrate from x0: ``("settled"|"escaped"|"returned"|"undecided", end)``."""
    lower, upper = box
    width = float(np.max(upper - lower))
    settle = SETTLE_RTOL * max(1.0, width)

    def settled(t, x):
        return float(np.max(np.abs(system.f(x, p)))) - settle

    def escaped(t, x):
        return float(np.max(np.maximum(lower - width - x, x - upper - width)))

    settled.terminal = escaped.terminal = True

    solution = scipy.integrate.solve_ivp(
        lambda t, x: system.f(x, p),
        (0.0, T_MAX),
        x0,
        rtol=1e-9,
        atol=1e-12 * max(1.0, width),
        events=(settled, escaped),
        dense_output=True,
    )

    end = solution.y[:, -1]
    if solution.status == 1:
        return ("settled" if solution.t_events[0].size else "escaped"), end
    return _recurrence(system, p, solution.sol, end, width), end


def _recurrence(system, p, path, end, width):
    """``"returned"`` when the orbit's tail is periodic-like, else ``"undecided"``."""
    third = path(np.linspace(T_MAX / 2, 0.75 * T_MAX, 2000)).T
    fourth = path(np.linspace(0.75 * T_MAX, T_MAX, 2000)).T
    gap = float(np.min(np.linalg.norm(third - end, axis=1)))

    speed_third = max(float(np.max(np.abs(system.f(x, p)))) for x in third[::10])
    speed_fourth = max(float(np.max(np.abs(system.f(x, p)))) for x in fourth[::10])
    steady = speed_fourth >= RECURRENCE_STEADY * speed_third
    return "returned" if gap <= RETURN_RTOL * width and steady else "undecided"


def _model_checks(model, p):
    checks = getattr(model, "structural_checks", None)
    return checks(p) if callable(checks) else []
