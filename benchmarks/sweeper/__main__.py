"""``python -m benchmarks.sweeper [OPTIONS]``: see :mod:`benchmarks.sweeper.bench`."""

import sys

from benchmarks.sweeper.bench import main

if __name__ == "__main__":
    sys.exit(main())
