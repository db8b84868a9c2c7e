"""Click commands, one module per subject; ``fileintel.cli`` names them in its tables and
imports a module only when one of its commands runs."""
