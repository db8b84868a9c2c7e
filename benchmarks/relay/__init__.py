"""Outbox relay: drain rate and commit→publish latency, beside a minimal raw loop.

The entry is ``bench.main``; run it as ``python -m benchmarks.relay`` or through
``python -m benchmarks relay``.
"""
