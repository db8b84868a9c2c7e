"""The sweeper, the scheduler and the operations commands (doctor, metrics, warnings)."""
