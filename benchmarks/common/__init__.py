"""What the benchmarks share: scratch databases (``databases``), CPU metering
(``cpu_meter``), py-spy and cProfile reports (``profiling``), FileIntel commands as child
processes (``processes``) and the verdict wording (``report``). Nothing here knows a
particular benchmark."""
