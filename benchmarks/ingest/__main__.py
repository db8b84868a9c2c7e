"""``python -m benchmarks.ingest [OPTIONS]``: see :mod:`benchmarks.ingest.bench`."""

import sys

from benchmarks.ingest.bench import main

if __name__ == "__main__":
    sys.exit(main())
