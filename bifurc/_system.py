"""The `System`: a parameterised vector field x' = f(x, p) and its derivatives.

Every computation in bifurc takes a `System`.  Its functions all have the
signature ``(x, p)`` where ``x`` is the state, an ndarray of shape ``(n,)``,
and ``p`` the full parameter vector, an ndarray of shape ``(m,)`` ordered as
`System.parameters`.  Which parameter is continued is chosen by index, so
one compiled system serves every parameter.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping

import numpy as np
import scipy.sparse as sp

from ._errors import InputError, UserFunctionError

__all__ = ["System"]

# Relative finite-difference steps: the cube root (central differences) and
# fourth root (second differences) of machine epsilon balance truncation
# against rounding error.
_FD_REL_STEP = np.finfo(float).eps ** (1 / 3)
_FD2_REL_STEP = np.finfo(float).eps ** (1 / 4)

# A supplied Jacobian must match finite differences to this relative
# tolerance at the start of a run.
_JAC_CHECK_RTOL = 1e-4


def _fd_steps(v, rel):
    """Steps for each component of `v`, scaled to its magnitude."""
    return rel * np.maximum(1.0, np.abs(v))


@dataclasses.dataclass(frozen=True, eq=False)
class System:
    """A parameterised system of ordinary differential equations x' = f(x, p).

    Build one with `from_equations`, `from_energy` or `from_callable`, or load
    it with `bifurc.load_model`; built-in models in `bifurc.models` return one.

    Attributes
    ----------
    variables : tuple of str
        Names of the state variables, length n.
    parameters : tuple of str
        Names of the parameters, length m.
    defaults : ndarray, shape (m,)
        Default parameter values (read-only).
    rhs : callable
        ``rhs(x, p) -> ndarray, shape (n,)``.
    jacobian : callable or None
        ``jacobian(x, p) -> ndarray or sparse matrix, shape (n, n)``, the
        derivative f_x.  None means finite differences.
    param_jacobian : callable or None
        ``param_jacobian(x, p) -> ndarray, shape (n, m)``, the derivative
        f_p with respect to every parameter.  None means finite differences.
    second_derivative : callable or None
        ``second_derivative(x, p, k, u, v) -> ndarray, shape (n,)``: the
        second derivative of ``(x, p_k) -> f`` applied to the two directions
        ``u`` and ``v``, each of shape ``(n + 1,)`` (state part, then the
        component along parameter ``k``).  None means finite differences of
        the Jacobian.
    energy : callable or None
        ``energy(x, p) -> float`` when the system is the gradient flow
        x' = -grad E.
    gradient : bool
        True when f_x is symmetric at every point (a gradient flow).
        Stability then uses symmetric eigensolvers or the inertia.
    symmetrizer : callable or None
        ``symmetrizer(x, p) -> ndarray or sparse, shape (n, n)``: a symmetric
        matrix with the same eigenvalues as f_x, when one is known (a
        classical Hopfield network with symmetric weights).  Its inertia gives
        the number of unstable directions.
    sparse : bool
        True when `jacobian` returns scipy.sparse matrices.
    name, description : str
        Shown by the command line and in exported files.
    box : tuple of two ndarrays or None
        Lower and upper corners of the region where rest points are searched.
    expressions : dict or None
        For symbolic systems, the sympy expressions (``"rhs"`` and, for
        gradient flows, ``"energy"``) and the sympy symbols (``"x"``,
        ``"p"``).
    """

    variables: tuple[str, ...]
    parameters: tuple[str, ...]
    defaults: np.ndarray
    rhs: Callable
    jacobian: Callable | None = None
    param_jacobian: Callable | None = None
    second_derivative: Callable | None = None
    energy: Callable | None = None
    gradient: bool = False
    symmetrizer: Callable | None = None
    sparse: bool = False
    name: str = ""
    description: str = ""
    box: tuple | None = None
    expressions: dict | None = None

    def __post_init__(self):
        variables = tuple(str(v) for v in self.variables)
        parameters = tuple(str(q) for q in self.parameters)
        _check_names(variables, "variables")
        _check_names(parameters, "parameters")
        if set(variables) & set(parameters):
            shared = sorted(set(variables) & set(parameters))
            raise InputError(f"names used both as variable and parameter: {shared}")

        defaults = np.array(self.defaults, dtype=float).reshape(-1)
        if defaults.shape != (len(parameters),):
            raise InputError(
                f"defaults has {defaults.size} values for {len(parameters)} "
                f"parameters {list(parameters)}"
            )
        if not np.all(np.isfinite(defaults)):
            raise InputError(f"parameter defaults must be finite, got {defaults}")
        defaults.setflags(write=False)

        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "defaults", defaults)
        if self.box is not None:
            object.__setattr__(self, "box", _check_box(self.box, len(variables)))

    # ------------------------------------------------------------------
    # Construction

    @classmethod
    def from_callable(
        cls,
        f,
        variables,
        parameters,
        *,
        jacobian=None,
        param_jacobian=None,
        energy=None,
        gradient=False,
        sparse=False,
        name="",
        description="",
        box=None,
        check_jacobian=True,
    ):
        """Build a system from Python functions.

        Parameters
        ----------
        f : callable
            ``f(x, p) -> array_like, shape (n,)``, with ``x`` of shape
            ``(n,)`` and ``p`` the parameter vector of shape ``(m,)`` in the
            order of `parameters`.
        variables : int or sequence of str
            The state's names, or their number n (names ``x0, x1, ...``).
        parameters : mapping of str to float
            Parameter names and default values, in order.
        jacobian, param_jacobian : callable, optional
            f_x as an ``(n, n)`` array (or sparse matrix with
            ``sparse=True``) and f_p as an ``(n, m)`` array.  When missing,
            finite differences with steps relative to each variable's size.
        energy : callable, optional
            ``energy(x, p) -> float`` when ``f = -grad energy``; implies
            ``gradient=True``.
        gradient : bool
            Whether f_x is symmetric everywhere.
        check_jacobian : bool
            Compare a supplied `jacobian` with finite differences at the
            default parameters and ``x = 0.5`` once, and raise `InputError`
            naming the first entry that disagrees.

        Returns
        -------
        System
        """
        if isinstance(variables, int | np.integer):
            variables = tuple(f"x{i}" for i in range(int(variables)))
        if not isinstance(parameters, Mapping):
            raise InputError(
                "parameters must be a mapping of names to default values, "
                f"got {type(parameters).__name__}"
            )
        system = cls(
            variables=tuple(variables),
            parameters=tuple(parameters),
            defaults=np.array([float(v) for v in parameters.values()]),
            rhs=_wrap_user(f, "f"),
            jacobian=None if jacobian is None else _wrap_user(jacobian, "jacobian"),
            param_jacobian=(
                None if param_jacobian is None else _wrap_user(param_jacobian, "param_jacobian")
            ),
            energy=energy,
            gradient=bool(gradient or energy is not None),
            sparse=bool(sparse),
            name=name,
            description=description,
            box=box,
        )
        if jacobian is not None and check_jacobian:
            system.check_jacobian(np.full(system.n, 0.5), system.defaults)
        return system

    def with_params(self, **values):
        """Return a copy with some default parameter values changed.

        Raises
        ------
        InputError
            For an unknown name (the message lists the known ones) or a
            non-finite value.
        """
        defaults = np.array(self.defaults)
        for key, value in values.items():
            defaults[self.param_index(key)] = float(value)
        return dataclasses.replace(self, defaults=defaults)

    # ------------------------------------------------------------------
    # Names and shapes

    @property
    def n(self):
        """Number of state variables."""
        return len(self.variables)

    @property
    def m(self):
        """Number of parameters."""
        return len(self.parameters)

    @property
    def params(self):
        """Default parameter values as a dict."""
        return dict(zip(self.parameters, self.defaults.tolist(), strict=True))

    def param_index(self, name):
        """Index of parameter `name`.

        Raises
        ------
        InputError
            Naming the known parameters and the closest match.
        """
        if isinstance(name, int | np.integer) and 0 <= name < self.m:
            return int(name)
        try:
            return self.parameters.index(name)
        except ValueError:
            pass
        close = difflib.get_close_matches(str(name), self.parameters, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown parameter {name!r}: the system's parameters are "
            f"{list(self.parameters)}{hint}"
        )

    def variable_index(self, name):
        """Index of state variable `name` (with the same errors as `param_index`)."""
        try:
            return self.variables.index(name)
        except ValueError:
            close = difflib.get_close_matches(str(name), self.variables, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"unknown variable {name!r}: the system's variables are "
                f"{list(self.variables)}{hint}"
            ) from None

    def parameter_vector(self, values=None):
        """Full parameter vector from defaults overridden by `values` (a dict)."""
        p = np.array(self.defaults)
        for key, value in (values or {}).items():
            p[self.param_index(key)] = float(value)
        if not np.all(np.isfinite(p)):
            raise InputError(f"parameter values must be finite, got {dict(values)}")
        return p

    def check_state(self, x, name="x0"):
        """Return `x` as a float array of shape (n,), or raise `InputError`."""
        x = np.asarray(x, dtype=float)
        if x.ndim == 0 and self.n == 1:
            x = x.reshape(1)
        if x.shape != (self.n,):
            raise InputError(
                f"{name} must have shape ({self.n},) for variables "
                f"{list(self.variables)[:6]}, got shape {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            bad = int(np.flatnonzero(~np.isfinite(x))[0])
            raise InputError(
                f"{name} must be finite; component {self.variables[bad]!r} is {x[bad]}"
            )
        return x

    # ------------------------------------------------------------------
    # Evaluation

    def f(self, x, p):
        """The vector field at (x, p), shape (n,)."""
        return self.rhs(x, p)

    def fx(self, x, p):
        """The Jacobian f_x at (x, p): analytic when available, else finite differences."""
        if self.jacobian is not None:
            return self.jacobian(x, p)
        return self.fd_jacobian(x, p)

    def fp(self, x, p, k):
        """The derivative of f with respect to parameter `k` (an index), shape (n,)."""
        if self.param_jacobian is not None:
            return np.asarray(self.param_jacobian(x, p))[:, k]
        h = _FD_REL_STEP * max(1.0, abs(p[k]))
        up, down = np.array(p), np.array(p)
        up[k] += h
        down[k] -= h
        return (np.asarray(self.rhs(x, up)) - np.asarray(self.rhs(x, down))) / (2 * h)

    def fxx(self, x, p, k, u, v):
        """Second derivative of ``(x, p_k) -> f`` in directions u, v of shape (n + 1,).

        Exact for symbolic systems; otherwise central differences of the
        Jacobian-vector product along `v`.
        """
        if self.second_derivative is not None:
            return np.asarray(self.second_derivative(x, p, k, u, v))
        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        scale = max(1.0, np.linalg.norm(x), abs(p[k]))
        h = _FD2_REL_STEP * scale / max(np.linalg.norm(v), 1e-300)
        plus = self._directional(x, p, k, u, x + h * v[:-1], p[k] + h * v[-1])
        minus = self._directional(x, p, k, u, x - h * v[:-1], p[k] - h * v[-1])
        return (plus - minus) / (2 * h)

    def _directional(self, x0, p0, k, u, x, pk):
        """(f_x u_x + f_pk u_p) evaluated at (x, p with p_k = pk)."""
        p = np.array(p0)
        p[k] = pk
        jac = self.fx(x, p)
        return np.asarray(jac @ u[:-1]).reshape(-1) + self.fp(x, p, k) * u[-1]

    def fd_jacobian(self, x, p):
        """Finite-difference Jacobian with steps relative to each variable's size."""
        x = np.asarray(x, dtype=float)
        steps = _fd_steps(x, _FD_REL_STEP)
        jac = np.empty((x.size, x.size))
        for j in range(x.size):
            up, down = np.array(x), np.array(x)
            up[j] += steps[j]
            down[j] -= steps[j]
            jac[:, j] = (np.asarray(self.rhs(up, p)) - np.asarray(self.rhs(down, p))) / (
                2 * steps[j]
            )
        return jac

    def check_jacobian(self, x, p):
        """Compare the supplied Jacobian with finite differences at (x, p).

        Raises
        ------
        InputError
            Naming the first disagreeing entry and both values.
        """
        if self.jacobian is None:
            return
        exact = self.jacobian(x, p)
        exact = exact.toarray() if sp.issparse(exact) else np.asarray(exact, dtype=float)
        if exact.shape != (self.n, self.n):
            raise InputError(
                f"the Jacobian must have shape ({self.n}, {self.n}), got {exact.shape}"
            )
        approx = self.fd_jacobian(x, p)
        scale = np.maximum(1.0, np.abs(approx))
        bad = np.argwhere(np.abs(exact - approx) > _JAC_CHECK_RTOL * scale)
        if bad.size:
            i, j = bad[0]
            raise InputError(
                f"the supplied Jacobian disagrees with finite differences at entry "
                f"[{i}, {j}] (d f[{self.variables[i]}] / d {self.variables[j]}): "
                f"supplied {exact[i, j]:.10g}, finite differences {approx[i, j]:.10g}"
            )

    def check_call(self, x, p):
        """Evaluate f and f_x once at (x, p), checking shapes and finiteness.

        Exceptions from user code are re-raised as `UserFunctionError`,
        chained, with x and p in the message.  Returns ``(f, f_x)``.
        """
        try:
            value = np.asarray(self.rhs(x, p), dtype=float)
            jac = self.fx(x, p)
        except (InputError, UserFunctionError):
            raise
        except Exception as exc:
            raise UserFunctionError(
                f"the system's function raised {type(exc).__name__}: {exc} "
                f"at x = {np.array2string(x, threshold=8)}, "
                f"p = {self._describe_p(p)}"
            ) from exc
        if value.shape != (self.n,):
            raise InputError(
                f"f(x, p) must return shape ({self.n},), got {value.shape}"
            )
        if jac.shape != (self.n, self.n):
            raise InputError(
                f"the Jacobian must have shape ({self.n}, {self.n}), got {jac.shape}"
            )
        return value, jac

    def _describe_p(self, p):
        return {k: float(v) for k, v in zip(self.parameters, p, strict=False)}


def _check_names(names, what):
    if len(set(names)) != len(names):
        raise InputError(f"{what} contains repeated names: {list(names)}")
    for name in names:
        if not name.isidentifier():
            raise InputError(f"{what}: {name!r} is not a valid name (use letters, digits, _)")


def _check_box(box, n):
    lower, upper = (np.broadcast_to(np.asarray(b, dtype=float), (n,)).copy() for b in box)
    if not np.all(lower < upper):
        raise InputError(f"box lower corner must be below the upper one, got {box}")
    return lower, upper


def _wrap_user(func, what):
    """Validate that `func` is callable; return it unchanged."""
    if not callable(func):
        raise InputError(f"{what} must be callable, got {type(func).__name__}")
    return func

