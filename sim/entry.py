"""The ``depinsim`` command: loads the command line only inside a guard, so Ctrl-C at any point of the
start-up is one line and exit code 130, not a traceback."""

from __future__ import annotations

import os
import sys


def main() -> None:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("depinsim: interrupted before anything was written.\n")
        sys.stderr.flush()
        os._exit(130)  # as sim.cli.interrupted_exit: nothing is open yet
    cli_main()
