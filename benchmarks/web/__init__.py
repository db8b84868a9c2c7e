"""``fileintel web``: the API beside the in-process status call, the SSE fan-out under 200
clients, and the collections page beside ``collections list --json``.

The entry is ``bench.main``; run it as ``python -m benchmarks.web`` or through
``python -m benchmarks web``.
"""
