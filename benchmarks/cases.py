"""The benchmark cases: each builds its system, times its branches, checks folds.

A case returns one record (a dict of plain numbers and strings, ready for
JSON) per continued branch.  Only the work a user would do is timed: the
Newton solve at the start and the continuation.  Set-up (random weights,
the sparse Laplacian) and the checks of the located folds are not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import problems
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import verify

import bifurc

# The reference factorisation is repeated until this much CPU time has been
# spent (and at least MIN_REPEATS times); the fastest repeat is reported.
# ``--quick`` (a smoke test) spends less.
LU_BUDGET = 0.3
QUICK_LU_BUDGET = 0.02
MIN_REPEATS = 3
BATCH_SECONDS = 2e-3

# A located fold counts as accurate at this relative distance from the
# independently refined one (the target of the performance specification).
FOLD_RTOL = 1e-8

# Work counters of a branch (``Branch.info``) copied into its record.
COUNTERS = ("steps", "rejected", "f", "jacobian", "lu")

# Labels listed in the report; end points (EP) are not special in a benchmark.
REPORTED_LABELS = ("LP", "BP", "H")


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case.

    Attributes
    ----------
    name : str
        Identifier used by ``--cases``.
    n : int
        Number of unknowns.
    run : callable
        ``run() -> list of dict``, one record per branch.
    quick : bool
        Whether ``--quick`` includes the case.
    full : bool
        Whether a run without ``--quick`` includes it.
    """

    name: str
    n: int
    run: Callable
    quick: bool = False
    full: bool = True


def peak_rss_mb():
    """Peak resident memory of this process in MB.

    The peak since the last `reset_peak` (Linux VmHWM), else the peak of the
    whole process so far (``ru_maxrss``).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak():
    """Start a new window for `peak_rss_mb`, where the system allows it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def timed(func):
    """Call `func()`; return its result, CPU seconds and wall seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = func()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def measured(func):
    """`timed`, plus the peak memory (MB) while `func` ran: ``(result, costs)``."""
    reset_peak()
    result, cpu, wall = timed(func)
    return result, {"cpu": cpu, "wall": wall, "peak_rss_mb": peak_rss_mb()}


def _repeat(func, share=1.0):
    """Fastest CPU and wall time of one call of `func`, over repeated batches.

    Calls are timed in batches of at least BATCH_SECONDS, because reading the
    process CPU clock is a system call of a few microseconds: as long as a
    small LU factorisation.
    """
    _, first, _ = timed(func)
    batch = max(1, int(BATCH_SECONDS / max(first, 1e-7)))
    budget = share * LU_BUDGET
    best_cpu, best_wall, spent, count = np.inf, np.inf, 0.0, 0

    while spent < budget or count < MIN_REPEATS:
        _, cpu, wall = timed(lambda: [func() for _ in range(batch)])
        best_cpu, best_wall = min(best_cpu, cpu / batch), min(best_wall, wall / batch)
        spent += cpu
        count += 1
    return best_cpu, best_wall


def _bordered(system, x, p, k):
    """The bordered matrix [[f_x, f_p], [t^T, 0]] with a dense unit row t."""
    jac = system.fx(x, p)
    column = system.fp(x, p, k)[:, None]
    row = np.random.default_rng(0).standard_normal((1, x.size + 1))
    row /= np.linalg.norm(row)
    if sp.issparse(jac):
        blocks = [[jac, column], [sp.csr_matrix(row[:, :-1]), row[:, -1:]]]
        return sp.bmat(blocks, format="csc")
    return np.block([[np.asarray(jac), column], [row]])


def reference_costs(system, x, p, k):
    """Times of one LU factorisation of the bordered matrix and one f_x.

    Dense systems use ``scipy.linalg.lu_factor`` (LAPACK getrf), sparse ones
    ``scipy.sparse.linalg.splu`` with its default (COLAMD) ordering.

    Returns
    -------
    dict
        ``lu_cpu``, ``lu_wall``, ``jac_cpu`` in seconds and ``lu_kind``.
    """
    matrix = _bordered(system, x, p, k)
    if sp.issparse(matrix):
        lu_cpu, lu_wall = _repeat(lambda: spla.splu(matrix))
        kind = "splu"
    else:
        lu_cpu, lu_wall = _repeat(lambda: sla.lu_factor(matrix, check_finite=False))
        kind = "lu_factor"

    jac_cpu, _ = _repeat(lambda: system.fx(x, p), share=1 / 3)
    return {"lu_cpu": lu_cpu, "lu_wall": lu_wall, "jac_cpu": jac_cpu, "lu_kind": kind}


def _check_point(system, branch, point, exact):
    """A dict describing one special point, with the fold's independent check."""
    entry = {
        "label": point.label,
        "value": float(point.value),
        "precision": _float_or_none(getattr(point, "precision", None)),
        "converged": bool(getattr(point, "converged", False)),
    }
    if point.label != "LP":
        return entry

    if exact is not None:
        ref = min(exact, key=lambda v: abs(v - point.value))
    else:
        p = np.array(branch.p_fixed, dtype=float)
        p[branch.param_index] = point.value
        tangent = getattr(point, "tangent", None)
        null = None if tangent is None else np.asarray(tangent)[: system.n]
        check = verify.refine_fold(system, point.x, p, branch.param_index, null)
        if not check.converged:
            entry["check"] = check.message
        ref = check.value
    entry["reference"] = float(ref)
    entry["error"] = abs(point.value - ref) / max(abs(ref), np.finfo(float).tiny)
    return entry


def _float_or_none(value):
    return None if value is None else float(value)


def record(case, branch_name, system, branch, costs, expected=None, exact=None):
    """The record of one timed branch: counts, times, memory, special points.

    `costs` holds the branch's ``cpu``, ``wall`` and ``peak_rss_mb`` and the
    reference costs of `reference_costs`.
    """
    points = [
        _check_point(system, branch, sp_, exact)
        for sp_ in branch.special_points
        if sp_.label in REPORTED_LABELS
    ]
    folds = [q for q in points if q["label"] == "LP"]
    info = getattr(branch, "info", None) or {}
    counts = {key: int(info[key]) for key in COUNTERS if key in info}
    accurate = all(q.get("error", np.inf) <= FOLD_RTOL for q in folds)
    return {
        "case": case,
        "branch": branch_name,
        "n": system.n,
        "points": len(branch),
        **costs,
        "status": str(branch.status),
        "counts": counts,
        "special": points,
        "n_folds": len(folds),
        "expected_folds": expected,
        "folds_ok": accurate and (expected is None or expected == len(folds)),
    }


# ----------------------------------------------------------------------
# Hopfield benchmark problem

# Parameter interval of both branches (spec: primary from 0.1 to 3, second
# branch from 3 down).
BETA_START, BETA_END = 0.1, 3.0

# Folds of the second branch stated with the benchmark problem.
EXPECTED_FOLDS = {10: 1, 100: 3, 500: 3}


# Steps allowed to the continuation in the bias that looks for the mirrored
# rest point: a path that folds back and forth longer than this has not
# found it (the non-symmetric networks' paths wander through dozens of folds).
MIRROR_MAX_STEPS = 300


def _with_beta(system, beta):
    return system.parameter_vector({"beta": beta})


def hopfield_case(n, symmetric=True):
    """Both branches of the benchmark Hopfield problem with n units."""
    name = f"hopfield-{n}" if symmetric else f"hopfield-nonsym-{n}"
    system = problems.hopfield_benchmark(n, symmetric)
    bias = problems.hopfield_weights(n, symmetric)[1]
    p_start, p_end = _with_beta(system, BETA_START), _with_beta(system, BETA_END)
    costs = reference_costs(system, bias, p_start, 0)
    interval = (BETA_START, BETA_END)

    def primary():
        x = bifurc.find_equilibrium(system, bias, p_start)[0]
        return bifurc.continuation(system, x, "beta", interval, p0=BETA_START)

    first, spent = measured(primary)
    records = [record(name, "primary", system, first, spent | costs)]

    def start():
        top = bifurc.find_equilibrium(system, first.x[-1], p_end)[0]
        x, converged, residual = bifurc.find_equilibrium(system, -top, p_end)
        if converged:
            return x, "Newton from -x(beta = 3)"
        x = mirrored_start(system, top, p_end)
        if isinstance(x, str):
            return f"Newton from -x(beta = 3) did not converge ({residual=:.2g}); {x}"
        return x, "continuation of -x(beta = 3) in bias_scale from -1 to 1"

    found, start_costs = measured(start)
    if isinstance(found, str):
        return records + [skipped(name, "second", system.n, found)]
    x, how = found

    def second():
        return bifurc.continuation(system, x, "beta", interval, p0=BETA_END)

    branch, spent = measured(second)
    expected = EXPECTED_FOLDS.get(n) if symmetric else None
    rec = record(name, "second", system, branch, spent | costs, expected)
    rec["start"] = {"how": how, "cpu": start_costs["cpu"]}
    return records + [rec]


def mirrored_start(system, state, p):
    """The rest point that minus `state` becomes when the bias is turned back.

    With bias scale -1, minus a rest point of the network is an exact rest
    point (x' = -x + W tanh(beta x) + b is odd in (x, b)); continuing it in
    the bias scale to +1 gives the mirrored rest point, or a fold on the way
    shows that it does not exist.  Returns the state, or the reason.
    """
    params = dict(zip(system.parameters, p, strict=True))
    branch = bifurc.continuation(
        system,
        -state,
        "bias_scale",
        (-1.0, 1.0),
        p0=-1.0,
        params=params,
        direction="forward",
        max_steps=MIRROR_MAX_STEPS,
    )
    reached = np.flatnonzero(np.isclose(branch.p, 1.0, rtol=0, atol=1e-12))
    if reached.size == 0:
        folds = [sp.value for sp in branch.special_points if sp.label == "LP"]
        where = ", ".join(f"{value:.6g}" for value in folds)
        return (
            f"its continuation in bias_scale from -1 turns back at folds "
            f"(bias_scale = {where}) and ends ({branch.message}) before +1"
        )

    return branch.x[reached[0]]


def skipped(case, branch_name, n, reason):
    """The record of a branch that does not exist (its start is not found)."""
    return {"case": case, "branch": branch_name, "n": n, "skipped": reason}


# ----------------------------------------------------------------------
# Other problems

MODERN_INTERVAL = (0.1, 50.0)

# The 2-D Bratu branch starts on the lower solution at lam = 1 and ends on the
# upper one back at lam = 1, passing its single fold near lam = 6.8.
BRATU_INTERVAL = (1.0, 7.0)

# Largest step of the Bratu runs: the branch is smooth away from its fold,
# where the tangent-angle control shortens the steps anyway.
BRATU_DS_MAX = 1.0

CUSP_INTERVAL = (-1.0, 1.0)
CUSP_FOLDS = (-2 / (3 * np.sqrt(3)), 2 / (3 * np.sqrt(3)))


def modern_case():
    """Modern Hopfield network, 10 patterns in 100 dimensions, beta continued."""
    system = problems.modern_hopfield_benchmark()
    x0 = problems.modern_patterns().mean(axis=1)
    p = _with_beta(system, MODERN_INTERVAL[0])
    costs = reference_costs(system, x0, p, 0)

    def run():
        x = bifurc.find_equilibrium(system, x0, p)[0]
        lo = MODERN_INTERVAL[0]
        return bifurc.continuation(system, x, "beta", MODERN_INTERVAL, p0=lo)

    branch, spent = measured(run)
    return [record("modern-hopfield", "mean", system, branch, spent | costs)]


def bratu_case(n_grid):
    """The 2-D Bratu problem on an n_grid x n_grid grid, through its fold."""
    from bifurc.models.bratu2d import bratu2d

    system = bratu2d(n_grid)
    x0 = np.zeros(system.n)
    p = system.parameter_vector({"lam": BRATU_INTERVAL[0]})
    costs = reference_costs(system, x0, p, 0)

    def run():
        x = bifurc.find_equilibrium(system, x0, p)[0]
        lo = BRATU_INTERVAL[0]
        return bifurc.continuation(
            system, x, "lam", BRATU_INTERVAL, p0=lo, ds_max=BRATU_DS_MAX
        )

    branch, spent = measured(run)
    name = f"bratu-{n_grid}"
    return [record(name, "lower-upper", system, branch, spent | costs, 1)]


def cusp_case():
    """Cusp normal form x' = mu + x - x^3 continued in mu across both folds."""
    system = problems.cusp()
    x0 = np.array([-1.3])
    p = system.parameter_vector({"mu": CUSP_INTERVAL[0]})
    costs = reference_costs(system, x0, p, 0)

    def run():
        x = bifurc.find_equilibrium(system, x0, p)[0]
        lo = CUSP_INTERVAL[0]
        return bifurc.continuation(system, x, "mu", CUSP_INTERVAL, p0=lo)

    branch, spent = measured(run)
    return [record("cusp", "s-curve", system, branch, spent | costs, 2, CUSP_FOLDS)]


def all_cases():
    """Every case, smallest first; ``quick`` marks those run by ``--quick``."""
    return [
        Case("cusp", 1, cusp_case, quick=True),
        Case("hopfield-10", 10, lambda: hopfield_case(10), quick=True),
        Case("hopfield-100", 100, lambda: hopfield_case(100), quick=True),
        Case("hopfield-500", 500, lambda: hopfield_case(500)),
        Case("hopfield-2000", 2000, lambda: hopfield_case(2000)),
        Case("hopfield-nonsym-100", 100, lambda: hopfield_case(100, False)),
        Case("hopfield-nonsym-500", 500, lambda: hopfield_case(500, False)),
        Case("modern-hopfield", 100, modern_case, quick=True),
        Case("bratu-30", 900, lambda: bratu_case(30), quick=True, full=False),
        Case("bratu-100", 10_000, lambda: bratu_case(100)),
        Case("bratu-300", 90_000, lambda: bratu_case(300)),
    ]
