"""Regenerate the tables of the shipped examples in data/, or check them.

Usage::

    python scripts/regenerate_data.py                # rewrite every file in data/
    python scripts/regenerate_data.py --check        # compare; exit 1 on a difference
    python scripts/regenerate_data.py --only fold-diagram diffusion-sequence
    python scripts/regenerate_data.py --out DIR      # write into DIR instead
    python scripts/regenerate_data.py --list

Each example is a built-in model of `bifurc.models` run with its registry
defaults: a diagram (continuation with branch switching, as
``bifurc continue NAME --diagram``) written to ``data/diagrams/NAME.csv``, or
an ordered bifurcation sequence (as ``bifurc sequence NAME``) written to
``data/sequences/NAME.csv``.  Every
CSV has a JSON sidecar with the same stem naming the model, its parameters,
the bifurc version and the command that produces the file.

``--check`` regenerates into a temporary folder and compares with data/:
same columns and rows, text columns identical, numbers equal to a relative
tolerance of `RTOL` with an absolute floor of `ATOL` (continuation is
deterministic on one machine; these bounds allow for another BLAS or CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import bifurc
import bifurc.models
from bifurc._io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

# Tolerance of --check on numbers: relative, with an absolute floor for
# values that vanish (states at a symmetric rest point, bracket widths).
RTOL = 1e-6
ATOL = 1e-9


@dataclasses.dataclass(frozen=True)
class Example:
    """One table of data/: a built-in model and what is computed from it."""

    model: str
    kind: str  # "diagram" or "sequence"

    @property
    def name(self):
        """``<model>-<kind>``, as given to ``--only``."""
        return f"{self.model}-{self.kind}"

    @property
    def path(self):
        """The CSV's path relative to data/."""
        return Path(f"{self.kind}s") / f"{self.model}.csv"


EXAMPLES = (
    *(
        Example(model, "diagram")
        for model in (
            "fold",
            "pitchfork",
            "subcritical-pitchfork",
            "transcritical",
            "cusp",
            "hopf",
            "double-well",
            "two-well",
            "bratu",
            "hopfield",
        )
    ),
    *(
        Example(model, "sequence")
        for model in ("double-well", "hopfield", "modern-hopfield", "diffusion")
    ),
)


# ----------------------------------------------------------------------
# Producing the files


def produce(example, folder):
    """Compute `example` and write its CSV and sidecar under `folder`.

    Returns
    -------
    pathlib.Path
        The CSV written.
    """
    entry = bifurc.models.get(example.model)
    system = entry.build()
    csv = Path(folder) / example.path
    csv.parent.mkdir(parents=True, exist_ok=True)

    result = _compute(example, entry, system)
    result.to_csv(csv)
    sidecar = _sidecar(example, entry, system, result, csv)
    text = json.dumps(sidecar, indent=2, default=_plain) + "\n"
    write_text_atomic(csv.with_suffix(".json"), text)
    return csv


def _compute(example, entry, system):
    """The diagram or sequence of the entry's defaults (as the command line runs it)."""
    if example.kind == "diagram":
        x0 = np.zeros(system.n) if entry.x0 is None else np.array(entry.x0, float)
        return bifurc.diagram(
            system, x0, entry.param, entry.p_range, p0=entry.p_range[0]
        )
    return bifurc.bifurcation_sequence(system, entry.param, entry.p_range)


def _sidecar(example, entry, system, result, csv):
    """What produced `csv`: model, parameters, version, command, tolerance."""
    start = system.parameter_vector({entry.param: entry.p_range[0]})
    table = pd.read_csv(csv)
    return {
        "file": example.path.as_posix(),
        "kind": example.kind,
        "model": example.model,
        "summary": entry.summary,
        "param": entry.param,
        "p_range": list(entry.p_range),
        "parameters": dict(zip(system.parameters, start.tolist(), strict=True)),
        "model_options": entry.options,
        "x0": None if entry.x0 is None else list(entry.x0),
        "bifurc_version": bifurc.__version__,
        "command": _command(example),
        "regenerate": f"python scripts/regenerate_data.py --only {example.name}",
        "tolerance": {"rtol": RTOL, "atol": ATOL},
        "rows": len(table),
        "columns": list(table.columns),
        "status": result.status.code,
        "message": result.message,
    }


def _command(example):
    """The command line that writes the same file."""
    target = (Path("data") / example.path).as_posix()
    if example.kind == "diagram":
        return f"bifurc continue {example.model} --diagram --csv {target}"
    return f"bifurc sequence {example.model} --csv {target}"


def _plain(value):
    """JSON form of tuples of arrays and numpy scalars in model options."""
    if isinstance(value, np.ndarray | tuple):
        return np.asarray(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# ----------------------------------------------------------------------
# Comparing tables


def compare_tables(expected, actual, rtol=RTOL, atol=ATOL):
    """Differences between two CSV files, as sentences (empty when they agree).

    Parameters
    ----------
    expected, actual : str or os.PathLike
    rtol, atol : float
        Numbers agree when ``|a - e| <= atol + rtol * |e|`` (NaN equals NaN).

    Returns
    -------
    list of str
    """
    old = pd.read_csv(expected, keep_default_na=False, na_values=[""])
    new = pd.read_csv(actual, keep_default_na=False, na_values=[""])
    if list(old.columns) != list(new.columns):
        return [f"columns differ: {list(old.columns)} != {list(new.columns)}"]
    if len(old) != len(new):
        return [f"{len(old)} rows stored, {len(new)} regenerated"]

    problems = []
    for column in old.columns:
        problems += _compare_column(column, old[column], new[column], rtol, atol)
    return problems


def _compare_column(name, old, new, rtol, atol):
    numeric = pd.api.types.is_numeric_dtype(old) and pd.api.types.is_numeric_dtype(new)
    if not numeric:
        before, after = (c.fillna("").astype(str).to_numpy(object) for c in (old, new))
        rows = np.flatnonzero(before != after)
        return (
            [f"{name}: text differs in rows {rows[:5].tolist()}"] if rows.size else []
        )

    a, b = old.to_numpy(float), new.to_numpy(float)
    close = np.isclose(b, a, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return []
    row = int(np.flatnonzero(~close)[0])
    return [
        f"{name}: {int((~close).sum())} values differ, first in row {row}: "
        f"{float(a[row])!r} stored, {float(b[row])!r} regenerated"
    ]


def check(examples, data=DATA):
    """Regenerate `examples` in a temporary folder and compare with `data`.

    Returns
    -------
    dict
        Example name -> list of differences (empty when it agrees).
    """
    report = {}
    with tempfile.TemporaryDirectory() as folder:
        for example in examples:
            stored = Path(data) / example.path
            if not stored.exists():
                report[example.name] = [f"{stored} does not exist"]
                continue
            fresh = produce(example, folder)
            report[example.name] = compare_tables(stored, fresh)
    return report


# ----------------------------------------------------------------------
# Command line


def _select(names):
    if not names:
        return EXAMPLES
    known = {example.name: example for example in EXAMPLES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown examples {unknown}; known: {sorted(known)}")
    return tuple(known[name] for name in names)


def _verdict(problems, shown=3):
    if not problems:
        return "ok"
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return "DIFFERS: " + "; ".join(problems[:shown]) + more


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these examples")
    parser.add_argument("--out", type=Path, default=DATA, help="folder to write")
    parser.add_argument("--list", action="store_true", help="list the examples")
    args = parser.parse_args(argv)
    examples = _select(args.only)

    if args.list:
        for example in examples:
            print(f"{example.name:30s} data/{example.path.as_posix()}")
        return 0
    if args.check:
        report = check(examples, args.out)
        for name, problems in report.items():
            print(f"{name:30s} {_verdict(problems)}")
        return 1 if any(report.values()) else 0

    for example in examples:
        path = produce(example, args.out)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
