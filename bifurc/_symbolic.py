"""Symbolic systems: expressions to exact, compiled derivatives.

The expressions come from the restricted parser (`bifurc._parser`) or from
the user as sympy objects; sympy differentiates them and ``lambdify`` (with
common subexpressions eliminated) compiles them to numpy.  This module, and
sympy with it, is imported only when a symbolic system is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import sympy

from ._errors import ModelError
from ._parser import parse_expression, reserved_name
from ._system import _declared_names

__all__ = ["energy_model", "equations_model", "system_fields"]


def equations_model(equations, variables, parameters):
    """A `_SymbolicModel` whose right-hand sides are `equations`."""
    model = _SymbolicModel.declare(variables, parameters)
    model.rhs = _equation_list(equations, model.variables, model.table)
    return model


def energy_model(energy, variables, parameters):
    """A `_SymbolicModel` for the gradient flow x' = -grad `energy`."""
    model = _SymbolicModel.declare(variables, parameters)
    model.energy = _expression(energy, model.table, "energy")
    model.rhs = [-sympy.diff(model.energy, x) for x in model.xs]
    return model


def system_fields(model):
    """Differentiate and compile `model`; return the `System` fields."""
    jac, param_jac = model.derivatives()
    compiler = _Compiler(model.xs, model.ps)
    n, m = len(model.xs), len(model.ps)

    energy = None
    if model.energy is not None:
        energy = _ScalarFunction(compiler, model.energy)
    expressions = {"rhs": tuple(model.rhs), "energy": model.energy}
    expressions |= {"x": model.xs, "p": model.ps, "jacobian": jac}

    return dict(
        variables=model.variables,
        parameters=tuple(model.defaults),
        defaults=np.array(list(model.defaults.values())),
        rhs=compiler.compile(model.rhs, (n,)),
        jacobian=compiler.compile(list(jac), (n, n)),
        param_jacobian=_Lazy(compiler, list(param_jac), (n, m)),
        second_derivative=_SecondDerivative(compiler, model.rhs, jac, param_jac),
        energy=energy,
        gradient=model.energy is not None,
        expressions=expressions,
    )


def _real_symbols(names):
    """Real sympy symbols for `names` (real, so that d|x|/dx is sign(x))."""
    return tuple(sympy.Symbol(name, real=True) for name in names)


@dataclasses.dataclass
class _SymbolicModel:
    """Declared names, their real sympy symbols, and the model's expressions."""

    variables: tuple
    defaults: dict
    xs: tuple
    ps: tuple
    rhs: list = None
    energy: object = None

    @classmethod
    def declare(cls, variables, parameters):
        """Validate the names (the grammar's reserved words are refused)."""
        variables, defaults = _declared_names(variables, parameters)
        for name in variables + tuple(defaults):
            why = reserved_name(name)
            if why:
                raise ModelError(f"cannot declare {name!r}: {why}")
        xs, ps = _real_symbols(variables), _real_symbols(defaults)
        return cls(variables, defaults, xs, ps)

    @property
    def table(self):
        """Each declared name and its symbol."""
        names = self.variables + tuple(self.defaults)
        return dict(zip(names, self.xs + self.ps, strict=True))

    def derivatives(self):
        """The exact f_x (n, n) and f_p (n, m) as sympy matrices.

        For an energy, f_x is the negative Hessian and each pair of mixed
        derivatives is computed once, so that f_x is exactly symmetric.
        """
        n, m = len(self.xs), len(self.ps)
        free = [f.free_symbols for f in self.rhs]

        def derivative(i, symbol):
            if symbol not in free[i]:
                return sympy.S.Zero
            return _drop_deltas(sympy.diff(self.rhs[i], symbol))

        def fx(i, j):
            if self.energy is not None and i > j:
                i, j = j, i
            return derivative(i, self.xs[j])

        def fp(i, k):
            return derivative(i, self.ps[k])

        return sympy.ImmutableMatrix(n, n, fx), sympy.ImmutableMatrix(n, m, fp)


def _equation_list(equations, variables, table):
    """The right-hand sides in the order of `variables`, as sympy expressions."""
    if isinstance(equations, Mapping):
        keys = [str(key) for key in equations]
        missing = [v for v in variables if v not in keys]
        extra = [k for k in keys if k not in variables]
        if missing or extra:
            raise ModelError(
                f"the equations must be given for exactly the variables "
                f"{list(variables)}: missing {missing}, undeclared {extra}"
            )

        equations = [
            dict(zip(keys, equations.values(), strict=True))[v] for v in variables
        ]
    elif isinstance(equations, str | sympy.Basic) and not isinstance(
        equations, sympy.MatrixBase
    ):
        equations = [equations]

    equations = list(equations)
    if len(equations) != len(variables):
        raise ModelError(
            f"{len(equations)} equations given for {len(variables)} variables "
            f"{list(variables)}"
        )

    return [
        _expression(eq, table, f"equation for {v!r}")
        for eq, v in zip(equations, variables, strict=True)
    ]


def _expression(value, table, what):
    """A sympy expression in the declared symbols from a string or sympy input."""
    if isinstance(value, str):
        try:
            return parse_expression(value, table)
        except ModelError as exc:
            raise ModelError(
                f"{what}: {exc}", position=exc.position, source=exc.source
            ) from None

    if isinstance(value, bool) or not isinstance(
        value, sympy.Basic | int | float | np.number
    ):
        raise ModelError(
            f"{what} must be a string or a sympy expression, got {type(value).__name__}"
        )

    if not isinstance(value, sympy.Basic):
        return sympy.Float(float(value))
    return _adopt(value, table, what)


def _adopt(expr, table, what):
    """Rewrite a user's sympy expression in the model's own real symbols."""
    unknown = sorted(str(s) for s in expr.free_symbols if str(s) not in table)
    if unknown:
        raise ModelError(
            f"{what} uses undeclared symbols {unknown}; declared: {list(table)}"
        )

    undefined = expr.atoms(sympy.core.function.AppliedUndef)
    if undefined:
        raise ModelError(
            f"{what} uses undefined functions {sorted(map(str, undefined))}"
        )
    if expr.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
        raise ModelError(f"{what} contains an infinite or undefined value: {expr}")

    return expr.xreplace({s: table[str(s)] for s in expr.free_symbols})


def _drop_deltas(expr):
    """Replace Dirac deltas (second derivatives of abs) by zero."""
    if expr.has(sympy.DiracDelta):
        return expr.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    return expr


class _Compiler:
    """Compile lists of sympy expressions in (x, p) to numpy functions.

    The model's symbols are first replaced by internal ones (``_x0``,
    ``_p0``, ...) so that no declared name can shadow a numpy function in the
    generated code; common subexpressions are eliminated by
    ``sympy.lambdify(..., cse=True)``.  Only expressions built from sympy
    constructors are compiled, never user text.
    """

    def __init__(self, xs, ps):
        self.x = sympy.symbols(f"_x0:{len(xs)}", real=True) if xs else ()
        self.p = sympy.symbols(f"_p0:{len(ps)}", real=True) if ps else ()
        self.rename = dict(zip(xs + ps, self.x + self.p, strict=True))

    def compile(self, exprs, shape, extra=()):
        """``func(x, p, *extra) -> ndarray`` of `shape` for the flat `exprs`."""
        flat = [sympy.sympify(e).xreplace(self.rename) for e in exprs]
        args = [list(self.x), list(self.p), *[list(a) for a in extra]]

        try:
            func = sympy.lambdify(args, flat, modules="numpy", cse=True)
        except Exception as exc:
            raise ModelError(
                f"cannot compile the expressions {flat[:3]}...: {exc}"
            ) from exc
        return _Compiled(func, shape)


class _Compiled:
    """A lambdified function returning a float array of a fixed shape.

    Called with x of shape (n, ...) it evaluates every trailing index at
    once and returns an array of shape ``shape + (...)``.
    """

    def __init__(self, func, shape):
        self.func = func
        self.shape = tuple(shape)

    def __call__(self, x, p, *extra):
        values = self.func(
            np.asarray(x, dtype=float), np.asarray(p, dtype=float), *extra
        )

        try:
            return np.array(values, dtype=float).reshape(self.shape)
        except ValueError:
            # Arrays mixed with constant scalars: broadcast the constants.
            arrays = np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in values])
            return np.array(arrays).reshape(self.shape + arrays[0].shape)


class _Lazy:
    """A compiled function that is only compiled at its first call."""

    def __init__(self, compiler, exprs, shape):
        self.compiler, self.exprs, self.shape = compiler, exprs, shape
        self.func = None

    def __call__(self, x, p):
        if self.func is None:
            self.func = self.compiler.compile(self.exprs, self.shape)
        return self.func(x, p)


class _ScalarFunction:
    """A compiled scalar function of (x, p), such as an energy."""

    def __init__(self, compiler, expr):
        self.func = compiler.compile([expr], ())

    def __call__(self, x, p):
        value = self.func(x, p)
        return float(value) if value.ndim == 0 else value


class _SecondDerivative:
    """Exact ``D^2 F[u, v]`` of ``(x, p_k) -> f``, compiled per parameter k.

    For parameter k the map is ``sum_ab d^2 f / dz_a dz_b u_a v_b`` with
    ``z = (x, p_k)``, built from sympy's derivatives and compiled on first
    use, with u and v as arguments.
    """

    def __init__(self, compiler, rhs, jac, param_jac):
        self.compiler = compiler
        self.rhs, self.jac, self.param_jac = rhs, jac, param_jac
        self.compiled = {}

    def __call__(self, x, p, k, u, v):
        k = int(k)
        if k not in self.compiled:
            self.compiled[k] = self._compile(k)
        return self.compiled[k](
            x, p, np.asarray(u, dtype=float), np.asarray(v, dtype=float)
        )

    def _compile(self, k):
        n = len(self.rhs)
        named = list(self.compiler.rename)
        z = named[:n] + [named[n + k]]
        u = sympy.symbols(f"_u0:{n + 1}", real=True)
        v = sympy.symbols(f"_v0:{n + 1}", real=True)

        first = [
            [self.jac[i, j] for j in range(n)] + [self.param_jac[i, k]]
            for i in range(n)
        ]

        out = []
        for i in range(n):
            terms = []
            for a in range(n + 1):
                symbols = first[i][a].free_symbols
                for b in range(n + 1):
                    if z[b] in symbols:
                        second = _drop_deltas(sympy.diff(first[i][a], z[b]))
                        terms.append(second * u[a] * v[b])
            out.append(sympy.Add(*terms))

        return self.compiler.compile(out, (n,), extra=(u, v))
