"""Processing throughput: the real system beside the bare pipeline on the same corpus.

The entry is ``bench.main``; run it as ``python -m benchmarks.processing`` or through
``python -m benchmarks processing``.
"""
