"""``python -m dedup``: the ``dedup`` command where its script is not on PATH (a venv not
activated, a notebook's kernel)."""

import sys

from dedup.cli import main

if __name__ == "__main__":  # not when a worker process re-imports the main module
    sys.exit(main())
