"""Sweeper pass time on a large PostgreSQL database, and the plans of its queries.

The entry is ``bench.main``; run it as ``python -m benchmarks.sweeper`` or through
``python -m benchmarks sweeper``.
"""
