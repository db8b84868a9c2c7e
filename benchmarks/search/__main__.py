"""``python -m benchmarks.search [quality|latency] [OPTIONS]``: see ``quality`` and ``latency``."""

import sys

from benchmarks.search.bench import main

if __name__ == "__main__":
    sys.exit(main())
