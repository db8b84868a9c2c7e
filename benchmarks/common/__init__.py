"""What the benchmarks share: scratch databases (``databases``), CPU metering (``cpu_meter``)
and profiling (``profiling``). Nothing here knows a particular benchmark."""
