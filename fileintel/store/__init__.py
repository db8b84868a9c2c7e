"""Named database operations: one function per thing the system does to its data.

Commands and actors call these and hold no SQL of their own. Status changes go through
``fileintel.store.transitions``; these modules compose them with the rows that must be
written in the same transaction.
"""
