"""``python -m benchmarks.transitions [OPTIONS]``: see :mod:`benchmarks.transitions.bench`."""

import sys

from benchmarks.transitions.bench import main

if __name__ == "__main__":
    sys.exit(main())
