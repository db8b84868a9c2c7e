"""Click commands, one module per command group; ``fileintel.cli`` assembles them."""
