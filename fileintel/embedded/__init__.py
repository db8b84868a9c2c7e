"""The embedded mode's worker processes: how they are started and watched (``supervisor``),
what each one runs (``child``), and how it takes its messages from the outbox (``feed``)."""
