"""``python -m benchmarks.cli_startup [OPTIONS]``: see :mod:`benchmarks.cli_startup.bench`."""

import sys

from benchmarks.cli_startup.bench import main

if __name__ == "__main__":
    sys.exit(main())
