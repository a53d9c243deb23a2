"""``python -m finance``: the command line."""

from __future__ import annotations

import sys

from finance.cli.commands import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into head: stop quietly, as Unix tools do
        sys.stderr.close()
        sys.exit(0)
