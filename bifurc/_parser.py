"""A restricted parser for equation strings: text in, sympy expression out.

Model files are data.  Equation strings are read by a tokenizer and an
operator-precedence (shunting-yard) parser written here; nothing is passed to
``eval``, ``exec``, ``sympify`` or ``parse_expr``, and the sympy expression is
assembled from sympy constructors.  The grammar::

    expression := term (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := ("+" | "-") factor | power
    power      := atom ("**" factor)?
    atom       := number | name | function "(" expression ")"
                | "(" expression ")"

``**`` binds tighter than unary minus and is right-associative, as in Python
and in mathematics: ``-x**2`` is ``-(x**2)`` and ``2**3**2`` is ``2**9``.
Names are the declared variables and parameters; the functions are
`FUNCTIONS`.  Numbers become exact sympy rationals (``0.1`` is 1/10).

There are no named constants (write ``exp(1)`` for e), no implicit
multiplication (``2x`` is an error) and ``^`` is refused rather than read as
a power.

Every input either gives the intended expression or raises `ModelError` with
the character offset of the problem, in bounded time and memory:

- at most `MAX_LENGTH` characters, parentheses nested at most `MAX_NESTING`
  deep, and an expression tree (sums and products flattened) at most
  `MAX_DEPTH` deep, checked while parsing without recursion;
- a number literal has at most `MAX_DIGITS` digits and must fit a double;
- a subexpression without names (a constant) is kept exact by sympy, and is
  also evaluated in floating point as it is built (one operation per node, so
  in bounded time): it must be a finite real number that fits a double
  (``1/0``, ``log(0)``, ``sqrt(-1)``, ``exp(1000)`` and ``1e300*1e300`` are
  errors);
- a power of two constants is evaluated only when its exponent is a rational
  whose numerator and denominator are at most `MAX_CONSTANT_EXPONENT` and the
  result fits a double, so ``10**10**10`` is an error, never a
  ten-billion-digit integer.  A power with a name in it is never evaluated
  (``x**(10**300)`` is kept as written).
"""

from __future__ import annotations

import dataclasses
import difflib
import keyword
import math
import re
import sys
from fractions import Fraction

import sympy

from ._errors import ModelError

__all__ = ["FUNCTIONS", "MAX_LENGTH", "parse_expression", "reserved_name"]

# The functions of the grammar, each of one argument.
# The same functions in floating point, for the range check of constants.
_FLOAT_FUNCTIONS = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "tanh": math.tanh,
    "cosh": math.cosh,
    "sinh": math.sinh,
    "abs": abs,
}

FUNCTIONS = {
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "tanh": sympy.tanh,
    "cosh": sympy.cosh,
    "sinh": sympy.sinh,
    "abs": sympy.Abs,
}

# Bounds that keep parsing and the later symbolic work small: an equation
# longer than this is not a hand-written model.
MAX_LENGTH = 100_000
# Parentheses may nest this deep; the expression tree (after flattening sums
# and products) may be this deep, which keeps sympy's recursive algorithms
# (differentiation, printing) far from Python's recursion limit.
MAX_NESTING = 200
MAX_DEPTH = 100
# A number literal has at most this many digits and a decimal exponent of at
# most this size; every constant must also fit a double.
MAX_DIGITS = 300
MAX_LITERAL_EXPONENT = 400
# A constant's numerator and denominator have at most this many bits; a power
# of two constants needs an exponent of at most this size (in absolute
# value, with a denominator no larger either).
MAX_CONSTANT_BITS = 4096
MAX_CONSTANT_EXPONENT = 1000

_FLOAT_MAX = Fraction(sys.float_info.max)

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/()])
    """,
    re.VERBOSE | re.ASCII,
)
_CALL = re.compile(r"[ \t\r\n]*\(")

# Why a character outside the grammar was refused.
_FORBIDDEN = {
    "^": "'^' is not an operator; write ** for powers",
    ",": "',' is not allowed: every function takes exactly one argument",
    ".": "'.' is only allowed inside a number (no attribute access)",
    "=": "'=' is not allowed: write only the right-hand side",
    "[": "brackets are not allowed",
    "]": "brackets are not allowed",
    "{": "braces are not allowed",
    "}": "braces are not allowed",
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    "%": "'%' is not an operator",
    "@": "'@' is not an operator",
    ";": "';' is not allowed: one expression per equation",
    ":": "':' is not allowed",
    "!": "'!' is not an operator",
    "\\": "backslashes are not allowed",
}

# Binding power and associativity of the operators.  Unary signs bind less
# tightly than ** (so -x**2 is -(x**2)) and more tightly than * and /.
_BINARY = {"+": (1, "left"), "-": (1, "left"), "*": (2, "left"), "/": (2, "left")}
_BINARY["**"] = (4, "right")
_UNARY_PRECEDENCE = 3


def reserved_name(name):
    """Why `name` cannot be declared as a variable or parameter, or None."""
    if name in FUNCTIONS:
        return f"{name!r} is the name of a function"
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword"
    if name.startswith("__"):
        return f"{name!r} starts with a double underscore"
    return None


def parse_expression(text, symbols):
    """Parse an equation string into a sympy expression.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"p*x - x**3"``.
    symbols : mapping of str to sympy.Symbol
        The declared names and the symbols they stand for.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ModelError
        For anything outside the grammar, with ``position`` the zero-based
        offset of the problem and the text with a caret in the message.
    """
    if not isinstance(text, str):
        raise ModelError(f"an equation must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise _error(
            text,
            MAX_LENGTH,
            f"the expression is {len(text)} characters long; at most "
            f"{MAX_LENGTH} are allowed",
        )

    tokens = _tokenize(text, symbols)
    tree = _Parser(text, tokens).parse()
    return _Builder(text, symbols).build(tree)


# ----------------------------------------------------------------------
# Errors


def _error(text, position, reason):
    """A ModelError for `reason` at `position`, showing the text and a caret."""
    start = max(0, position - 60)
    stop = min(len(text), position + 20)
    shown = text[start:stop].replace("\n", " ").replace("\t", " ")
    prefix = "..." if start else ""
    suffix = "..." if stop < len(text) else ""
    caret = " " * (len(prefix) + position - start) + "^"
    message = (
        f"{reason} (at position {position})\n    {prefix}{shown}{suffix}\n    {caret}"
    )
    return ModelError(message, position=position, source=text)


# ----------------------------------------------------------------------
# Tokens


@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "func", "op" or "end"
    text: str
    position: int


def _tokenize(text, symbols):
    """Split `text` into tokens, refusing every character outside the grammar."""
    tokens = []
    position = 0

    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _error(text, position, _refusal(text, position))
        kind, end = match.lastgroup, match.end()
        if kind == "name":
            call = _CALL.match(text, end)
            kind = _name_kind(text, match, symbols, call is not None)
            # The "(" of a function call belongs to the function's token.
            end = call.end() if kind == "func" else end

        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = end

    if not tokens:
        raise _error(text, 0, "empty expression")
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _refusal(text, position):
    """The reason why the character at `position` cannot start a token."""
    char = text[position]
    if (
        char == "."
        and position > 0
        and (text[position - 1].isalnum() or text[position - 1] in "_)")
    ):
        return "attribute access is not allowed"

    if char in _FORBIDDEN:
        return _FORBIDDEN[char]
    return f"unexpected character {char!r}"


def _name_kind(text, match, symbols, called):
    """Classify a name as a declared symbol or a function, or refuse it."""
    name = match.group()
    if name in symbols and not called:
        return "name"
    if name in FUNCTIONS and called:
        return "func"
    raise _error(text, match.start(), _unknown_name(name, symbols, called))


def _unknown_name(name, symbols, called):
    """Explain why `name` is refused, suggesting the closest allowed name."""
    if name.startswith("__"):
        return f"names with double underscores such as {name!r} are not allowed"
    if name in FUNCTIONS:
        return f"the function {name!r} needs an argument in parentheses"
    if name in symbols:
        return f"{name!r} is not a function; write {name}*(...) to multiply"

    if called:
        allowed = ", ".join(FUNCTIONS)
        return f"unknown function {name!r}; the functions are {allowed}"
    close = difflib.get_close_matches(name, list(symbols), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    known = ", ".join(list(symbols)[:12])
    return f"unknown name {name!r} (declared names: {known}){hint}"


# ----------------------------------------------------------------------
# Syntax tree


@dataclasses.dataclass
class _Node:
    """A node of the syntax tree.

    ``op`` is "number", "name", "add", "mul", "neg", "inv" (reciprocal),
    "pow" or a function name; sums and products are flattened so that a
    long sum is one node.
    """

    op: str
    args: list
    position: int
    depth: int = 1
    value: object = None
    constant: bool = True


class _Parser:
    """Shunting-yard parser: tokens to `_Node` tree, without recursion."""

    def __init__(self, text, tokens):
        self.text = text
        self.tokens = tokens
        self.operators = []  # (symbol, position): "(", "u-", "u+", binary ops
        self.calls = []  # function name or None for each open "("
        self.operands = []

    def parse(self):
        expect_operand = True
        for token in self.tokens:
            if expect_operand:
                expect_operand = self._operand(token)
            else:
                expect_operand = self._operator(token)
        return self.operands[-1]

    def _operand(self, token):
        """Handle a token where a value is expected; return expect_operand."""
        if token.kind == "number":
            self.operands.append(_Node("number", [], token.position, value=token.text))
            return False
        if token.kind == "name":
            node = _Node("name", [], token.position, value=token.text, constant=False)
            self.operands.append(node)
            return False
        if token.kind == "func":
            self._open(token.position, token.text)
            return True
        if token.text == "(":
            self._open(token.position, None)
            return True
        if token.text in ("+", "-"):
            self.operators.append(("u" + token.text, token.position))
            return True
        raise _error(self.text, token.position, self._missing_operand(token))

    def _missing_operand(self, token):
        if token.kind == "end":
            return "the expression ends where a value is expected"
        previous = self.operators[-1][0] if self.operators else None
        if token.text == ")" and previous == "(":
            return "empty parentheses"
        return f"expected a value before {token.text!r}"

    def _open(self, position, function):
        if len(self.calls) >= MAX_NESTING:
            raise _error(
                self.text,
                position,
                f"parentheses nest deeper than {MAX_NESTING} levels",
            )

        self.operators.append(("(", position))
        self.calls.append(function)

    def _operator(self, token):
        """Handle a token where an operator is expected; return expect_operand."""
        if token.kind == "end":
            self._finish()
            return False
        if token.text == ")":
            self._close(token.position)
            return False
        if token.text in _BINARY:
            self._push_binary(token)
            return True

        reason = f"expected an operator before {token.text!r}"
        if token.kind in ("number", "name", "func") or token.text == "(":
            reason += " (write * for multiplication)"
        raise _error(self.text, token.position, reason)

    def _push_binary(self, token):
        precedence, assoc = _BINARY[token.text]
        while self.operators and self.operators[-1][0] != "(":
            top = self._precedence(self.operators[-1][0])
            if top < precedence or (top == precedence and assoc == "right"):
                break
            self._reduce()

        self.operators.append((token.text, token.position))

    @staticmethod
    def _precedence(symbol):
        return _UNARY_PRECEDENCE if symbol in ("u-", "u+") else _BINARY[symbol][0]

    def _close(self, position):
        while self.operators and self.operators[-1][0] != "(":
            self._reduce()
        if not self.operators:
            raise _error(self.text, position, "unmatched ')'")

        _, opened = self.operators.pop()
        function = self.calls.pop()
        if function is not None:
            child = self.operands.pop()
            self.operands.append(self._node(function, [child], opened))

    def _finish(self):
        while self.operators:
            if self.operators[-1][0] == "(":
                raise _error(self.text, self.operators[-1][1], "unclosed '('")
            self._reduce()

    def _reduce(self):
        """Apply the operator on top of the stack to its operands."""
        symbol, position = self.operators.pop()
        if symbol in ("u-", "u+"):
            child = self.operands.pop()
            node = child if symbol == "u+" else self._node("neg", [child], position)
            self.operands.append(node)
            return

        right = self.operands.pop()
        left = self.operands.pop()
        if symbol == "-":
            right = self._node("neg", [right], position)
        elif symbol == "/":
            right = self._node("inv", [right], position)

        op = {"+": "add", "-": "add", "*": "mul", "/": "mul", "**": "pow"}[symbol]
        self.operands.append(self._combine(op, left, right, position))

    def _combine(self, op, left, right, position):
        """Join two operands, extending a sum or product instead of nesting."""
        if op != "pow" and left.op == op:
            left.args.append(right)
            left.depth = max(left.depth, right.depth + 1)
            left.constant = left.constant and right.constant
            self._check_depth(left.depth, position)
            return left

        return self._node(op, [left, right], position)

    def _node(self, op, args, position):
        depth = 1 + max(arg.depth for arg in args)
        self._check_depth(depth, position)
        constant = all(arg.constant for arg in args)
        return _Node(op, args, position, depth, constant=constant)

    def _check_depth(self, depth, position):
        if depth > MAX_DEPTH:
            raise _error(
                self.text,
                position,
                f"the expression is nested deeper than {MAX_DEPTH} levels",
            )


# ----------------------------------------------------------------------
# From syntax tree to sympy


class _Builder:
    """Build the sympy expression of a `_Node` tree from sympy constructors.

    Subtrees without names ("constants") are checked as they are built: they
    must be finite real numbers that fit a double, a division by a constant
    zero is refused, and a power of two constants is only evaluated when its
    exponent is small (see `MAX_CONSTANT_EXPONENT`).
    """

    def __init__(self, text, symbols):
        self.text = text
        self.symbols = symbols
        self.values = {}  # floating-point value of each constant node, by id

    def build(self, node):
        """The sympy expression of `node` (the tree depth is bounded)."""
        if node.op == "number":
            expr = self._number(node)
            self.values[id(node)] = float(Fraction(node.value))
            return expr
        if node.op == "name":
            return self.symbols[node.value]

        args = [self.build(arg) for arg in node.args]
        if node.op == "add":
            expr = sympy.Add(*args)
        elif node.op == "mul":
            expr = sympy.Mul(*args)
        elif node.op == "neg":
            expr = -args[0]
        elif node.op == "inv":
            expr = self._reciprocal(node, args[0])
        elif node.op == "pow":
            expr = self._power(node, *args)
        else:
            expr = FUNCTIONS[node.op](args[0])

        if node.constant:
            self._check_constant(node, expr)
        return expr

    def _float_value(self, node):
        """The value of a constant node in floating point (NaN on failure)."""
        args = [self.values[id(arg)] for arg in node.args]
        if node.op in ("sqrt", "log") and args[0] < 0:
            return complex(math.nan, 1.0)  # the principal value is not real
        try:
            if node.op == "add":
                return math.fsum(args)
            if node.op == "mul":
                return math.prod(args)
            if node.op == "neg":
                return -args[0]
            if node.op == "inv":
                return 1.0 / args[0]
            if node.op == "pow":
                return args[0] ** args[1]
            return _FLOAT_FUNCTIONS[node.op](args[0])
        except (ArithmeticError, ValueError):
            return math.nan

    def _number(self, node):
        """An exact rational from a literal, refusing ones outside double range."""
        mantissa, _, exponent = node.value.lower().partition("e")
        digits = len(mantissa.replace(".", "").lstrip("0"))
        if digits > MAX_DIGITS or abs(int(exponent or 0)) > MAX_LITERAL_EXPONENT:
            raise _error(
                self.text,
                node.position,
                f"the number {node.value[:40]!r} is too long or too large",
            )

        value = Fraction(node.value)
        if value > _FLOAT_MAX:
            raise _error(
                self.text,
                node.position,
                f"the number {node.value[:40]!r} is beyond the floating-point range",
            )
        return sympy.Rational(value.numerator, value.denominator)

    def _reciprocal(self, node, expr):
        if node.constant and expr.is_zero:
            raise _error(self.text, node.position, "division by zero")
        return sympy.Pow(expr, -1)

    def _power(self, node, base, exponent):
        """``base**exponent``, refusing constant powers too large to evaluate."""
        if not node.constant:
            return sympy.Pow(base, exponent)

        if isinstance(exponent, sympy.Rational):
            big = max(abs(exponent.p), exponent.q) > MAX_CONSTANT_EXPONENT
            if big or _rational_power_overflows(base, exponent):
                raise _error(
                    self.text,
                    node.position,
                    f"the constant power {sympy.sstr(base)[:30]}**"
                    f"{sympy.sstr(exponent)[:30]} is too large to evaluate",
                )
        return sympy.Pow(base, exponent)

    def _check_constant(self, node, expr):
        """Refuse a constant that is not a real number within double range.

        The value comes from floating-point arithmetic on the children's
        values, never from sympy's assumption system, which can take
        seconds on such as ``sin(sinh(400000))``.
        """
        position = node.position
        if expr.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
            raise _error(self.text, position, "the value here is infinite or undefined")

        value = self._float_value(node)
        if isinstance(value, complex):
            raise _error(
                self.text,
                position,
                f"the value here, {sympy.sstr(expr)[:40]}, is not a real number",
            )
        if not math.isfinite(value):
            raise _error(
                self.text,
                position,
                "the value here is infinite, undefined or beyond the "
                "floating-point range",
            )
        self.values[id(node)] = value

        for atom in expr.atoms(sympy.Rational):
            too_long = max(abs(atom.p), atom.q).bit_length() > MAX_CONSTANT_BITS
            if too_long or abs(Fraction(atom.p, atom.q)) > _FLOAT_MAX:
                raise _error(
                    self.text,
                    position,
                    "a constant here is beyond the floating-point range",
                )


def _rational_power_overflows(base, exponent):
    """Whether a rational `base` to a rational `exponent` leaves double range."""
    if not isinstance(base, sympy.Rational) or base == 0:
        return False

    bits = max(abs(base.p), base.q).bit_length()
    log2_size = abs(math.log2(abs(base.p)) - math.log2(base.q))
    size = abs(float(exponent))
    return size * log2_size > 1024 or size * bits > MAX_CONSTANT_BITS
