"""``python -m benchmarks.processing [OPTIONS]``: see :mod:`benchmarks.processing.bench`."""

import sys

from benchmarks.processing.bench import main

if __name__ == "__main__":
    sys.exit(main())
