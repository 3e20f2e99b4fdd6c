"""``python -m bifurc``: the command line (see `bifurc.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
