"""Search: the ranking of a collection's chunks for a question (``query.search``).

Two rankings, fused: by meaning (the question's embedding against the chunks', exact for
small collections, through a derived index for large ones: ``vectors``, ``ann``) and by
words (the lexical index the database keeps with the chunks, ``Backend.lexical_search``).
The database is the truth: every hit is read back from it before it is shown.
"""
