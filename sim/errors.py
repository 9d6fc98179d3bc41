"""Errors the user can act on, kept apart from bugs.

``InputError`` is bad input (a scenario, an override, an output folder): the CLI prints its one
paragraph and exits 2. ``ConservationError`` means the model broke one of its own laws: that is a bug
or an impossible parameter combination, and the run must not produce results that look valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class InputError(Exception):
    """Bad user input; the message is one paragraph naming the file, the field and what is allowed."""


class ConservationError(AssertionError):
    """A conservation law (jobs, GPU-hours, tokens, money) was violated at the end of a run."""


@contextmanager
def ctrl_c_stays_ctrl_c() -> Iterator[None]:
    """Re-raise as KeyboardInterrupt the SystemError that numba raises when Ctrl-C lands while one of its
    compiled functions runs or loads from its cache ("returned a result with an exception set", caused
    by the interrupt; seen in 1 of ~25 Ctrl-Cs of ``depinsim run``), so the command line's and a
    notebook's Ctrl-C handling sees the interrupt it is, not an error."""
    try:
        yield
    except SystemError as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, KeyboardInterrupt):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise KeyboardInterrupt from exc
