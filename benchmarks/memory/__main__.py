"""``python -m benchmarks.memory [OPTIONS]``: see :mod:`benchmarks.memory.bench`."""

import sys

from benchmarks.memory.bench import main

if __name__ == "__main__":
    sys.exit(main())
