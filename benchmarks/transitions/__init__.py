"""Status transitions per second: the real transition function beside raw psycopg2.

The entry is ``bench.main``; run it as ``python -m benchmarks.transitions`` or through
``python -m benchmarks transitions``.
"""
