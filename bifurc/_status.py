"""The statuses that end a computation, with their messages.

Every result (branch, connection, sequence) carries one of these and a
message; the enum is the one place where their wording lives.
"""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.Enum):
    """How a computation ended.  ``value`` is a short code, ``text`` a sentence."""

    SUCCESS = ("success", "finished normally")
    REACHED_BOUND = ("reached_bound", "reached the end of the parameter range")
    MAX_STEPS = ("max_steps", "took the maximum number of steps; raise max_steps")
    STEP_TOO_SMALL = (
        "step_too_small",
        "the step fell below ds_min; lower ds_min or check the branch for a "
        "singularity",
    )
    NON_FINITE = ("non_finite", "the system returned NaN or inf")
    CLOSED = ("closed", "the branch closed on itself")
    USER_ERROR = ("user_error", "a user function raised repeatedly")
    INTERRUPTED = ("interrupted", "interrupted by the user; partial result kept")
    INCOMPLETE = (
        "incomplete",
        "some rest points could not be followed across the whole interval",
    )
    NOT_CONVERGED = ("not_converged", "Newton's method did not converge")
    DEGENERATE = (
        "degenerate",
        "the rest points are not isolated: [f_x, f_p] is rank deficient along "
        "the branch (a conserved quantity?); eliminate one variable with the "
        "conservation law and continue the reduced system",
    )
    NO_CONNECTION = (
        "no_connection",
        "no connecting orbit found: the gap did not change sign in the bracket",
    )
    FAILED = ("failed", "the computation failed")

    def __init__(self, code, text):
        self.code = code
        self.text = text

    @property
    def success(self):
        """Whether the status counts as a normal end."""
        return self in (Status.SUCCESS, Status.REACHED_BOUND, Status.CLOSED)

    def __str__(self):
        return self.code
