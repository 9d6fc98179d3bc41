"""The ``depinsim`` command: loads the command line only inside a guard, so Ctrl-C at any point of the
start-up is one line and exit code 130, not a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("\ndepinsim: interrupted; nothing was written.\n")
        sys.exit(130)
    cli_main()
