"""Formatting of benchmark records, and what the machine and its BLAS are."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np
import scipy

import bifurc

# Environment variables that change BLAS speed or threading, reported as set.
BLAS_VARIABLES = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)

# Branches with more special points than this list their Hopf points as a
# count and a range.
SPECIAL_LIMIT = 8

TEXT_COLUMNS = (
    ("case", 20),
    ("branch", 11),
    ("n", 6),
    ("points", 6),
    ("CPU s", 8),
    ("wall s", 8),
    ("pts/s", 8),
    ("ms/pt", 8),
    ("LU ms", 8),
    ("f_x ms", 7),
    ("ratio", 6),
    ("LU/pt", 5),
    ("peak MB", 7),
    ("folds", 5),
)


def blas_summary():
    """The BLAS libraries in use and their threads (threadpoolctl if installed)."""
    settings = {var: os.environ[var] for var in BLAS_VARIABLES if var in os.environ}
    try:
        import threadpoolctl
    except ImportError:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        libs = [f"{blas['name']} {blas.get('version', '')} (threads: unknown)"]
        return {"libraries": libs, "environment": settings}

    libs = [
        f"{info['internal_api']} {info.get('version', '')} "
        f"({info.get('architecture', '?')}, {info['num_threads']} threads)"
        for info in threadpoolctl.threadpool_info()
    ]
    return {"libraries": libs, "environment": settings}


def limit_threads(count):
    """Limit BLAS threads in this process, when threadpoolctl is installed."""
    try:
        import threadpoolctl
    except ImportError:
        print(
            "threadpoolctl is not installed: BLAS threads not limited", file=sys.stderr
        )
        return
    threadpoolctl.threadpool_limits(count)


def _cpu_model():
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gb():
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    first = meminfo.read_text().splitlines()[0].split()
    return round(int(first[1]) / 1024**2, 1)


def machine_summary(records, threads=None):
    """A dict describing the machine, the libraries and the BLAS threads."""
    blas = next((rec["blas"] for rec in records if "blas" in rec), blas_summary())
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "system": platform.platform(terse=True),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "bifurc": bifurc.__version__,
        "blas": blas,
        "threads_requested": threads,
    }


def machine_text(machine):
    """One paragraph describing the machine, for both output formats."""
    blas = "; ".join(machine["blas"]["libraries"])
    env = machine["blas"]["environment"]
    env_text = ", ".join(f"{k}={v}" for k, v in env.items()) or "no BLAS variables set"
    return (
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, "
        f"{machine['memory_gb']} GB; {machine['system']}; Python "
        f"{machine['python']}, numpy {machine['numpy']}, scipy {machine['scipy']}, "
        f"bifurc {machine['bifurc']}. BLAS: {blas} ({env_text})."
    )


def _derived(rec):
    """Points per second, ms per point and the overhead ratio of a record."""
    points = max(rec["points"], 1)
    per_point = rec["cpu"] / points
    return {
        "rate": rec["points"] / rec["cpu"] if rec["cpu"] > 0 else float("inf"),
        "ms": 1e3 * per_point,
        "ratio": per_point / rec["lu_cpu"],
    }


def _point_text(point):
    text = f"{point['label']} {point['value']:.10g}"
    if "check" in point:
        return text + " (unchecked)"
    if "error" in point:
        return text + f" ({point['error']:.0e})"
    return text


def special_text(rec, limit=SPECIAL_LIMIT):
    """Special points as ``LP 1.39169706 (3e-12)``: value and relative error.

    Beyond `limit` points, Hopf points are summarised by their number and
    range; folds and branch points are always listed.
    """
    points = rec["special"]
    if len(points) <= limit:
        return "; ".join(_point_text(q) for q in points) or "-"
    hopf = [q["value"] for q in points if q["label"] == "H"]
    parts = [f"{len(hopf)} H in [{min(hopf):.4g}, {max(hopf):.4g}]"] if hopf else []
    parts += [_point_text(q) for q in points if q["label"] != "H"]
    return "; ".join(parts)


def _per_point(rec, counter):
    """A work counter of the branch divided by its number of points."""
    count = rec.get("counts", {}).get(counter)
    return "-" if count is None else f"{count / max(rec['points'], 1):.2f}"


def _folds_text(rec):
    expected = rec["expected_folds"]
    count = f"{rec['n_folds']}" if expected is None else f"{rec['n_folds']}/{expected}"
    return count + ("" if rec["folds_ok"] else "!")


def _text_row(rec):
    lead = f"{rec['case']:>20s} {rec['branch']:>11s} {rec['n']:6d}"
    if "error" in rec:
        return f"{lead}  FAILED: {rec['error']}"
    if "skipped" in rec:
        return f"{lead}  skipped: {rec['skipped']}"
    d = _derived(rec)
    cells = (
        rec["case"],
        rec["branch"],
        rec["n"],
        rec["points"],
        f"{rec['cpu']:.3f}",
        f"{rec['wall']:.3f}",
        f"{d['rate']:.1f}",
        f"{d['ms']:.3g}",
        f"{1e3 * rec['lu_cpu']:.3g}",
        f"{1e3 * rec['jac_cpu']:.3g}",
        f"{d['ratio']:.1f}",
        _per_point(rec, "lu"),
        f"{rec['peak_rss_mb']:.0f}",
        _folds_text(rec),
    )
    return " ".join(
        f"{str(c):>{w}s}" for c, (_, w) in zip(cells, TEXT_COLUMNS, strict=True)
    )


def text(records):
    """A fixed-width table followed by the special points of each branch."""
    header = " ".join(f"{name:>{w}s}" for name, w in TEXT_COLUMNS)
    lines = [header, "-" * len(header)]
    lines += [_text_row(rec) for rec in records]

    lines += ["", "Special points (relative error of each fold in parentheses):"]
    for rec in records:
        if "error" not in rec and "skipped" not in rec:
            lines.append(f"  {rec['case']} {rec['branch']} [{rec['status']}]: ")
            lines[-1] += special_text(rec)
    return "\n".join(lines + start_notes(records))


def start_notes(records):
    """How each second branch was started, and what that cost (not in its row)."""
    notes = [
        f"Start of {rec['case']} {rec['branch']}: {rec['start']['how']}, "
        f"{rec['start']['cpu']:.3g} s CPU (not in the row)."
        for rec in records
        if "start" in rec
    ]
    return [""] + notes if notes else []


MARKDOWN_HEADER = (
    "| case | branch | n | points | CPU s | wall s | points/s | ms/point "
    "| LU ms | overhead | peak MB | special points (fold error) |\n"
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
)


def _markdown_row(rec):
    lead = f"| {rec['case']} | {rec['branch']} | {rec['n']} |"
    if "error" in rec:
        return f"{lead} failed: {rec['error']} |"
    if "skipped" in rec:
        return f"{lead} skipped: {rec['skipped']} |"

    d = _derived(rec)
    cells = (
        rec["case"],
        rec["branch"],
        rec["n"],
        rec["points"],
        f"{rec['cpu']:.3f}",
        f"{rec['wall']:.3f}",
        f"{d['rate']:.0f}",
        f"{d['ms']:.3g}",
        f"{1e3 * rec['lu_cpu']:.3g}",
        f"{d['ratio']:.1f}",
        f"{rec['peak_rss_mb']:.0f}",
        special_text(rec),
    )
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(records, machine):
    """The README table: one row per branch, then the machine it ran on."""
    rows = [MARKDOWN_HEADER] + [_markdown_row(rec) for rec in records]
    notes = (
        "CPU and wall seconds include the Newton solve at the start of a primary "
        "branch; overhead is "
        "CPU seconds per point over the CPU time of one LU factorisation of the "
        "(n+1)x(n+1) bordered matrix (LAPACK getrf, or SuperLU splu for sparse "
        "systems) measured in the same run; peak MB is the peak resident memory "
        "of the process while the branch ran (Linux VmHWM, reset just before "
        "it; ru_maxrss where that is unavailable), interpreter and libraries "
        "included."
    )
    starts = " ".join(start_notes(records)[1:])
    notes += f" {starts}" if starts else ""

    return "\n".join(rows) + "\n\n" + notes + "\n\n" + machine_text(machine)
