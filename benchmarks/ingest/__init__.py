"""``ingest`` of many small files: how long ``add`` takes, and until the first document is done."""
