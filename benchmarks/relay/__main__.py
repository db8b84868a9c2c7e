"""``python -m benchmarks.relay [OPTIONS]``: see :mod:`benchmarks.relay.bench`."""

import sys

from benchmarks.relay.bench import main

if __name__ == "__main__":
    sys.exit(main())
