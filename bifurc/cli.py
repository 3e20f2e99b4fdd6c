"""The ``bifurc`` command line.

Subcommands::

    bifurc models
    bifurc continue MODEL [--param NAME] [--range A B] [--p0 V] [--x0 X ...]
                          [--set NAME=VALUE ...] [--csv FILE] [--plot FILE]
                          [--diagram] [--ds DS] [--ds-max DS] [--max-steps N]
    bifurc sequence [MODEL] [--param NAME] [--range A B] [--set NAME=VALUE ...]
                            [--csv FILE] [--diagram FILE] [--plot FILE]

MODEL is the name of a built-in model (``bifurc models`` lists them) or the
path of a TOML model file.  Each subcommand is a pair of functions,
``_add_<name>(subparsers)`` declaring its arguments and ``_run_<name>(args)``
running it; `SUBCOMMANDS` lists the pairs, so a subcommand is added in one
place.  Errors in the input (unknown model or parameter, malformed file, bad
values) print one line on stderr and exit with status 2 before any file is
written.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from ._errors import BifurcError, InputError
from ._results import special_points_table

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

# Exit statuses: success, a run that ended abnormally, bad input.
EXIT_OK, EXIT_RUN, EXIT_INPUT = 0, 1, 2


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_INPUT

    try:
        return args.run(args)
    except (BifurcError, OSError) as exc:
        print(f"bifurc: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("bifurc: interrupted", file=sys.stderr)
        return EXIT_RUN


def build_parser():
    """The argument parser with one sub-parser per entry of `SUBCOMMANDS`."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="bifurc", description="Numerical bifurcation analysis of x' = f(x, p)."
    )
    parser.add_argument("--version", action="version", version=f"bifurc {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")

    for add, run in SUBCOMMANDS:
        add(subparsers).set_defaults(run=run)
    return parser


# ----------------------------------------------------------------------
# bifurc models


def _add_models(subparsers):
    return subparsers.add_parser("models", help="list the built-in models")


def _run_models(args):
    entries = _registry_entries()
    if not entries:
        print("no built-in models are available")
        return EXIT_OK
    width = max(len(entry.name) for entry in entries)

    for entry in entries:
        start, end = entry.p_range
        print(
            f"{entry.name:<{width}}  {entry.summary} "
            f"[{entry.param}: {start:g} -> {end:g}]"
        )

    return EXIT_OK


def _registry_entries():
    try:
        from . import models
    except ImportError:
        return []

    return list(models.available())


# ----------------------------------------------------------------------
# bifurc continue


def _add_continue(subparsers):
    sub = subparsers.add_parser(
        "continue",
        help="follow a branch of rest points and print its special points",
        description="Follow a branch of rest points in one parameter; print the "
        "special points (LP, BP, H) and optionally write the branch CSV and a plot.",
    )

    sub.add_argument("model", help="built-in model name or path of a TOML model file")
    sub.add_argument("--param", help="parameter to continue (default: the model's)")
    sub.add_argument(
        "--range",
        nargs=2,
        type=float,
        metavar=("A", "B"),
        help="parameter interval (default: the model's)",
    )

    sub.add_argument("--p0", type=float, help="start value of the parameter")
    sub.add_argument(
        "--x0",
        nargs="+",
        type=float,
        metavar="X",
        help="start state (a rest point or a guess)",
    )

    sub.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set another parameter (repeatable)",
    )

    sub.add_argument("--csv", metavar="FILE", help="write the branch CSV here")
    sub.add_argument("--plot", metavar="FILE", help="save a bifurcation diagram here")
    sub.add_argument(
        "--diagram",
        action="store_true",
        help="also follow the branches through every branch point",
    )

    sub.add_argument("--ds", type=float, help="first step (default 0.01)")
    sub.add_argument("--ds-max", type=float, help="largest step (default 0.1)")
    sub.add_argument("--max-steps", type=int, help="steps per direction (default 2000)")

    return sub


def _run_continue(args):
    from ._continuation import continuation
    from ._switching import diagram

    setup = _setup_run(args)
    _check_outputs(args)
    options = {
        "ds": args.ds,
        "ds_max": args.ds_max,
        "max_steps": args.max_steps,
        "p0": setup["p0"],
    }

    options = {key: value for key, value in options.items() if value is not None}
    run = diagram if args.diagram else continuation
    result = run(
        setup["system"], setup["x0"], setup["param"], setup["p_range"], **options
    )

    _print_result(result, setup)
    _write_outputs(result, args)
    return EXIT_OK if result.status.success else EXIT_RUN


def _setup_run(args):
    """System, parameter, range, start value and state from the arguments."""
    system, entry = _load(args.model)
    system = system.with_params(**_parse_sets(args.set)) if args.set else system
    param = args.param or (entry.param if entry else None)

    if param is None:
        param = system.parameters[0]
    k = system.param_index(param)

    p_range = tuple(args.range) if args.range else (entry.p_range if entry else None)
    if p_range is None:
        raise InputError(f"--range A B is needed for the model file {args.model!r}")
    p0 = args.p0

    if p0 is None and entry is not None and not args.range:
        p0 = entry.p_range[0]
    x0 = _start_state(args, system, entry)

    return {
        "system": system,
        "param": system.parameters[k],
        "p_range": p_range,
        "p0": p0,
        "x0": x0,
    }


def _load(model):
    """The system named by MODEL and its registry entry (None for a file)."""
    path = Path(model)
    if path.suffix.lower() == ".toml" or path.exists():
        from ._toml import load_model

        return load_model(path), None

    try:
        from . import models
    except ImportError as exc:
        raise InputError(
            f"{model!r} is not a model file and built-in models are unavailable"
        ) from exc

    entry = models.get(model)
    return entry.build(), entry


def _parse_sets(items):
    """``["a=1", "b=2.5"]`` -> ``{"a": 1.0, "b": 2.5}``."""
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not sep or not name.strip() or not math.isfinite(value):
            raise InputError(
                f"--set expects NAME=VALUE with a finite number, got {item!r}"
            )
        values[name.strip()] = value

    return values


def _start_state(args, system, entry):
    if args.x0 is not None:
        return system.check_state(np.array(args.x0), "--x0")
    if entry is not None and entry.x0 is not None and not args.set:
        return np.array(entry.x0, dtype=float)

    return np.zeros(system.n)


def _check_outputs(args):
    """Fail before computing if an output folder does not exist."""
    for option, value in (("--csv", args.csv), ("--plot", args.plot)):
        if value is not None and not Path(value).resolve().parent.is_dir():
            raise InputError(f"{option}: folder of {value!r} does not exist")


def _print_result(result, setup):
    branches = getattr(result, "branches", (result,))
    system = setup["system"]
    title = system.name or "model"

    print(
        f"{title}: {len(branches)} branch(es) in {setup['param']} over "
        f"[{min(setup['p_range']):g}, {max(setup['p_range']):g}]"
    )

    for i, branch in enumerate(branches):
        status = f"{branch.status.code}: {branch.message}"
        print(f"  branch {i}: {len(branch)} points; {status}")
    points = [sp for sp in _special_points(result) if sp.label != "EP"]
    print(special_points_table(points, system.variables, max_variables=6))


def _special_points(result):
    if hasattr(result, "branches"):
        return result.special_points
    return result.special_points


def _write_outputs(result, args):
    if args.csv:
        result.to_csv(args.csv)
        print(f"branch CSV written to {args.csv}")

    if args.plot:
        from .plotting import plot_diagram, save_figure

        ax = plot_diagram(result)
        save_figure(ax.figure, args.plot)
        print(f"diagram written to {args.plot}")


# ----------------------------------------------------------------------
# bifurc sequence

# Models tried, in order, when `bifurc sequence` is given none.
_DEFAULT_SEQUENCE_MODELS = ("diffusion", "double-well")


def _add_sequence(subparsers):
    sub = subparsers.add_parser(
        "sequence",
        help="every bifurcation over a parameter range, in order, with the graphs",
        description="The ordered bifurcation sequence: local events (LP, BP, H) and "
        "saddle connections (HET) as the parameter runs from A to B, with the rest "
        "points involved and how the graph of rest points changes.  Without MODEL, "
        "the built-in diffusion memory landscape.",
    )

    sub.add_argument("model", nargs="?", help="built-in model name or TOML model file")
    sub.add_argument("--param", help="parameter to sweep (default: the model's)")
    sub.add_argument(
        "--range", nargs=2, type=float, metavar=("A", "B"),
        help="sweep from A to B (A > B sweeps downwards; default: the model's)",
    )  # fmt: skip

    sub.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="set another parameter (repeatable)",
    )  # fmt: skip
    sub.add_argument("--csv", metavar="FILE", help="write the sequence table here")
    sub.add_argument("--diagram", metavar="FILE", help="write every branch (CSV) here")

    sub.add_argument("--plot", metavar="FILE", help="save the timeline figure here")
    sub.add_argument("--samples", type=int, help="sample values of the parameter")
    sub.add_argument("--seed", type=int, default=0, help="seed of the Newton starts")

    sub.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )  # fmt: skip

    return sub


def _run_sequence(args):
    from ._sequence import bifurcation_sequence

    system, entry = _load(args.model or _default_sequence_model())
    system = system.with_params(**_parse_sets(args.set)) if args.set else system
    param = args.param or (entry.param if entry else system.parameters[0])
    p_range = tuple(args.range) if args.range else (entry.p_range if entry else None)

    if p_range is None:
        raise InputError(f"--range A B is needed for the model file {args.model!r}")
    for option, value in (("--diagram", args.diagram), ("--csv", args.csv)):
        if value is not None and not Path(value).resolve().parent.is_dir():
            raise InputError(f"{option}: folder of {value!r} does not exist")
    _check_outputs(args)

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    options = {"seed": args.seed, "progress": progress}
    if args.samples is not None:
        options["n_samples"] = args.samples
    sequence = bifurcation_sequence(system, param, p_range, **options)

    print(sequence.to_text())
    for path, write, what in (
        (args.csv, sequence.to_csv, "sequence table"),
        (args.diagram, sequence.diagram.to_csv, "diagram CSV"),
        (args.plot, lambda path: _save_timeline(sequence, path), "timeline figure"),
    ):
        if path:
            write(path)
            print(f"{what} written to {path}")

    return EXIT_OK if sequence.status.success else EXIT_RUN


def _default_sequence_model():
    from . import models

    names = {entry.name for entry in models.available()}
    return next(name for name in _DEFAULT_SEQUENCE_MODELS if name in names)


def _save_timeline(sequence, path):
    from .plotting import plot_sequence_timeline, save_figure

    save_figure(plot_sequence_timeline(sequence), path)


SUBCOMMANDS = [
    (_add_models, _run_models),
    (_add_continue, _run_continue),
    (_add_sequence, _run_sequence),
]
