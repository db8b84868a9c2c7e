"""The sweeper: its passes (``run_once``), races, plans, the scheduler and leader lock."""
