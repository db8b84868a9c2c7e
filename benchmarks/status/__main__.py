"""``python -m benchmarks.status [OPTIONS]``: see :mod:`benchmarks.status.bench`."""

import sys

from benchmarks.status.bench import main

if __name__ == "__main__":
    sys.exit(main())
