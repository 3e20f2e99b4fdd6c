"""Time bifurc's continuation on the benchmark cases and print a table.

Usage::

    python benchmarks/run.py                 # every case (several minutes)
    python benchmarks/run.py --quick         # the small cases (seconds)
    python benchmarks/run.py --cases 'hopfield-*' --markdown
    python benchmarks/run.py --list

For each continued branch the table shows the number of points, CPU seconds
(``time.process_time``) and wall seconds, points per second, milliseconds per
point, the time of one LU factorisation of the (n+1) x (n+1) bordered matrix
measured in the same process (LAPACK ``getrf`` through
``scipy.linalg.lu_factor``, or SuperLU ``splu`` for sparse systems), the
overhead ratio (CPU seconds per point over that LU time), the peak resident
memory while the branch ran (Linux VmHWM, reset just before the branch;
``ru_maxrss`` elsewhere; every case runs in a fresh Python process, and the
figure includes the interpreter and the libraries, about 170 MB),
and the special points found, each fold with its relative distance to an
independent refinement (benchmarks/verify.py) or to the exact value.
"""

from __future__ import annotations

import argparse
import cProfile
import fnmatch
import io
import json
import math
import os
import pstats
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cases  # noqa: E402
import report  # noqa: E402

from bifurc._io import atomic_path, write_text_atomic  # noqa: E402

# Prefix of the lines a worker prints for its parent to read.
RECORD_PREFIX = "BENCH "

# Environment variables that set the number of BLAS and OpenMP threads.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# One BLAS thread by default: the targets are CPU seconds, and on a small
# (or busy) machine threads spinning over small matrices cost more CPU time
# than they save.
DEFAULT_THREADS = 1

# A worker that runs longer than this (seconds) is stopped and reported.
DEFAULT_TIMEOUT = 3600


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="small cases only")
    add("--cases", nargs="+", metavar="NAME", help="case names or glob patterns")
    add("--list", action="store_true", help="list the cases and exit")

    add("--markdown", action="store_true", help="print a README table")
    add("--json", metavar="FILE", help="also write the records here")
    add("--repeat", type=int, default=1, help="runs per case; the fastest is kept")
    add("--timeout", type=float, default=DEFAULT_TIMEOUT)

    threads_help = "BLAS threads (default 1; 0 leaves the environment as it is)"
    add("--threads", type=int, default=DEFAULT_THREADS, help=threads_help)
    add("--in-process", action="store_true", help="no worker processes (profiling)")
    add("--profile", metavar="DIR", help="write cProfile statistics per case to DIR")
    add("--worker", metavar="NAME", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def select_cases(args):
    """The cases named by ``--cases`` (globs allowed), or the quick/full set."""
    every = cases.all_cases()
    if args.cases:
        chosen = [
            c for c in every if any(fnmatch.fnmatch(c.name, pat) for pat in args.cases)
        ]
        if not chosen:
            names = ", ".join(c.name for c in every)
            raise SystemExit(f"no case matches {args.cases}; the cases are: {names}")
        return chosen
    return [c for c in every if (c.quick if args.quick else c.full)]


# ----------------------------------------------------------------------
# Workers


def run_worker(name, profile_dir=None, emit=True):
    """Run case `name` here; print its records, one JSON line each, if `emit`."""
    case = next(c for c in cases.all_cases() if c.name == name)
    baseline = cases.peak_rss_mb()
    if profile_dir is None:
        records = case.run()
    else:
        records = _profiled(case, Path(profile_dir))

    for rec in records:
        rec["baseline_rss_mb"] = baseline
        rec["blas"] = report.blas_summary()
        if emit:
            print(RECORD_PREFIX + json.dumps(rec), flush=True)
    return records


def _profiled(case, folder):
    """Run `case` under cProfile; write ``NAME.prof`` and ``NAME.txt`` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    profiler = cProfile.Profile()
    records = profiler.runcall(case.run)

    with atomic_path(folder / f"{case.name}.prof") as tmp:
        profiler.dump_stats(tmp)
    text = io.StringIO()
    for key in ("cumulative", "tottime"):
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs().sort_stats(key).print_stats(40)
    write_text_atomic(folder / f"{case.name}.txt", text.getvalue())
    return records


def run_in_subprocess(case, args):
    """Run `case` in a fresh interpreter; return its records or one failure record."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", case.name]
    command += ["--threads", str(args.threads)]
    if args.quick:
        command.append("--quick")
    if args.profile:
        command += ["--profile", args.profile]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return [_failure(case, f"timed out after {args.timeout:g} s")]

    records = [
        json.loads(line[len(RECORD_PREFIX) :])
        for line in done.stdout.splitlines()
        if line.startswith(RECORD_PREFIX)
    ]
    if done.returncode != 0 or not records:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return records + [_failure(case, f"exit {done.returncode}: {tail}")]
    return records


def fastest(runs):
    """Per branch, the record with the least CPU time over repeated runs."""
    best = {}
    for rec in (rec for run in runs for rec in run):
        key = (rec["case"], rec["branch"])
        if key not in best or rec.get("cpu", math.inf) < best[key].get("cpu", math.inf):
            best[key] = rec
    return list(best.values())


def _failure(case, message):
    return {"case": case.name, "branch": "-", "n": case.n, "error": message}


# ----------------------------------------------------------------------
# Driver


def _set_threads(args):
    """Apply ``--threads`` here (in-process) or to the workers' environment."""
    if not args.threads:
        return
    if args.in_process:
        report.limit_threads(args.threads)
    else:
        os.environ.update({var: str(args.threads) for var in THREAD_VARIABLES})


def run_cases(chosen, args):
    """Every record of every chosen case, the fastest of ``--repeat`` runs."""
    records = []
    for case in chosen:
        runs = []
        for attempt in range(max(args.repeat, 1)):
            note = f"running {case.name} ({attempt + 1}) ..."
            print(note, file=sys.stderr, flush=True)
            if args.in_process:
                runs.append(run_worker(case.name, args.profile, emit=False))
            else:
                runs.append(run_in_subprocess(case, args))
        records += fastest(runs)
    return records


def show(records, args):
    """Print the table (text or markdown) and write ``--json``."""
    machine = report.machine_summary(records, args.threads)
    if args.markdown:
        print(report.markdown(records, machine))
    else:
        print(report.text(records) + "\n\n" + report.machine_text(machine))

    if args.json:
        payload = {"machine": machine, "records": records}
        write_text_atomic(args.json, json.dumps(payload, indent=1))


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        cases.LU_BUDGET = cases.QUICK_LU_BUDGET
    if args.worker:
        run_worker(args.worker, args.profile)
        return 0

    chosen = select_cases(args)
    if args.list:
        print("\n".join(f"{c.name:22s} n = {c.n}" for c in chosen))
        return 0

    _set_threads(args)
    records = run_cases(chosen, args)
    show(records, args)
    return 1 if any("error" in rec for rec in records) else 0


if __name__ == "__main__":
    sys.exit(main())
