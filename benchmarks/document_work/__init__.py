"""A worker's claim + finish of one document, client side, on SQLite and on PostgreSQL.

The entry is ``bench.main``; run it as ``python -m benchmarks.document_work`` or through
``python -m benchmarks document_work``.
"""
