"""The sweeper: finds work whose lease expired or whose message was lost, and recovers it.

``sweep.Sweeper.run_once`` is one pass over every rule; ``scheduler`` runs passes on an
interval under the ``leader`` lock (one active sweeper at a time).
"""
