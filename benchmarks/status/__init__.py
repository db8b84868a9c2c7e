"""``collections status`` on a huge collection beside a tiny one.

The entry is ``bench.main``; run it as ``python -m benchmarks.status`` or through
``python -m benchmarks status``.
"""
