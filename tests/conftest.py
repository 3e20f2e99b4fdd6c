"""Shared settings of the test suite."""

import hypothesis

# Continuation runs take milliseconds to a second; hypothesis' per-example
# deadline would make their timing a source of flaky failures.
hypothesis.settings.register_profile("bifurc", deadline=None, max_examples=25)
hypothesis.settings.load_profile("bifurc")
