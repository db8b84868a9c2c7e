"""Search: retrieval quality on a labelled set (``quality``) and latency on a large
generated collection on PostgreSQL (``latency``)."""
