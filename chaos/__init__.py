"""``make chaos``: FileIntel's invariants under injected faults, on real processes.

The suite starts its own PostgreSQL cluster and Redis servers, puts workers and relays on
hosts of their own (network namespaces), runs a seeded load and a seeded series of faults,
then checks invariants L, H, O, F and I and prints them as a table. One concept per module:

- ``naming``: the prefix every resource carries, and the address plan;
- ``cleanup``: removing what a run (or an earlier, killed one) left behind;
- ``cluster``: the PostgreSQL cluster and the two Redis servers;
- ``hosts``: network namespaces, their links, cutting, healing and slowing them;
- ``topology``: the ``fileintel`` processes (workers, relays, schedulers);
- ``load``: the files and the collections submitted while the faults run;
- ``faults``: each fault kind and the seeded schedule;
- ``observer``: the events consumer and the recovery time of each fault;
- ``checker``: the invariants and the table;
- ``runner``: the run from start to verdict (``python -m chaos``).
"""
