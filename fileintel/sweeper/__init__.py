"""The sweeper: finds work whose lease expired or whose message was lost, and recovers it.

One module per rule, each with its query, its decision and the guarded write that makes
two concurrent sweeps decide once:

- ``expired_leases``: documents whose worker stopped heartbeating (re-dispatch or fail);
- ``lost_dispatches``: documents dispatched but never claimed (re-dispatch);
- ``runs``: runs past their deadline, never started, or finished but still open;
- ``audit``: a run and its collection that disagree on open/closed (repair);
- ``outbox_backlog``: holds back the "message lost?" rules while the relay is behind.

``decisions.Decision`` names every decision; ``notes`` records those that are not a status
change. ``sweep.Sweeper.run_once`` is one pass over every rule; ``scheduler`` runs passes on
an interval under the ``leader`` lock (one active sweeper at a time).
"""
