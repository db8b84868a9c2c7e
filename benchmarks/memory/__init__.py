"""Peak memory of the embedded mode's worker processes on big and many documents."""
