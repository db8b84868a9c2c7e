"""``python -m benchmarks.web [OPTIONS]``: see :mod:`benchmarks.web.bench`."""

import sys

from benchmarks.web.bench import main

if __name__ == "__main__":
    sys.exit(main())
