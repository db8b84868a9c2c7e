"""Start-up of a fresh ``fileintel`` process beside importing click and SQLAlchemy.

The entry is ``bench.main``; run it as ``python -m benchmarks.cli_startup`` or through
``python -m benchmarks cli_startup``.
"""
