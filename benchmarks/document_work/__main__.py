"""``python -m benchmarks.document_work [OPTIONS]``: see :mod:`benchmarks.document_work.bench`."""

import sys

from benchmarks.document_work.bench import main

if __name__ == "__main__":
    sys.exit(main())
