"""Dramatiq workers.

Importing this package only exposes the building blocks; ``fileintel.workers.entry`` is
the module ``dramatiq`` loads (``dramatiq fileintel.workers.entry``, which is what
``fileintel worker`` runs): it builds the broker from the environment and registers the actors.
"""
