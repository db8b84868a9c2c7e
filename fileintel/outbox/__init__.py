"""The transactional outbox: rows written with a change, published by the relay."""
