"""``python -m sim``: the same command line as ``depinsim``."""

from .cli import main

main()
