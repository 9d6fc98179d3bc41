"""Errors the user can act on, kept apart from bugs.

``InputError`` is bad input (a scenario, an override, an output folder): the CLI prints its one
paragraph and exits 2. ``ConservationError`` means the model broke one of its own laws: that is a bug
or an impossible parameter combination, and the run must not produce results that look valid.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad user input; the message is one paragraph naming the file, the field and what is allowed."""


class ConservationError(AssertionError):
    """A conservation law (jobs, GPU-hours, tokens, money) was violated at the end of a run."""
