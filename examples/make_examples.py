"""Regenerate the two example documents that cannot be written as plain UTF-8 text.

    python examples/make_examples.py

writes ``docs/05-handling-and-care.pdf`` (two pages, with title and author) and
``docs/07-name-authority-notes.txt`` (Latin-1 encoded). The outputs are committed, so
this only needs to run when their text changes.
"""

from __future__ import annotations

from pathlib import Path

from fileintel.pipeline.pdfgen import write_minimal_pdf

DOCS = Path(__file__).resolve().parent / "docs"

PDF_PAGES = [
    """Handling and Care of the Collection

Books last for centuries when they are handled well and for a few years when they are not.
These rules apply to every volunteer, every day.

Take a book from the shelf by its middle, never by pulling the top of the spine. Push the
neighbouring books back a little first so that you can grip the covers.

Keep drinks off the cataloguing table. A single spilled coffee can ruin a whole trolley of
newly accessioned books.

Never use paper clips, rubber bands or sticky notes on pages. Use a slip of plain paper as
a bookmark instead.""",
    """Repairs and Shelving

Loose pages, torn covers and broken spines go to the repair box, with a slip that gives the
accession number and describes the damage. Do not try to glue a book yourself.

On the shelf, books stand upright and are not packed too tightly. Leave room for a hand.
Large books lie flat on the bottom shelf.

Once a month, walk the shelves and check that every spine label can still be read. A book
with an unreadable label is effectively lost, because nobody can find its place.""",
]

LATIN1_TEXT = """Name authority notes

A name authority file records one agreed form for every person and organisation in the
catalogue. When a name appears in different forms, choose one, record it here, and use it
in every record.

Keep the letters of the original language. Write Müller, not Muller or Mueller; Gonçalves,
not Goncalves; Åström, not Astrom. A reader who searches for "café" or "naïve" expects
the accents to be right, and the search system treats é and e as different letters.

Decisions so far:

- Müller, Jürgen (1931-2004), author of local histories. Not "J. Mueller".
- Gonçalves, Inês, translator. Use the full given name.
- Åström, Sören, photographer. The Å is part of the surname.
- Société d'histoire locale, publisher. Keep the French form of the name.
- Núñez, José Ángel, author of the beekeeping guide. Both accents in Núñez.

This file is saved in the Latin-1 encoding on purpose: older catalogue exports still use
it, and the system must read such files correctly.
"""


def main() -> None:
    """Write the generated example documents into ``docs/``."""
    DOCS.mkdir(exist_ok=True)
    # Reflow each paragraph onto one line; the PDF writer wraps lines to the page width.
    pages = ["\n\n".join(" ".join(p.split()) for p in page.split("\n\n")) for page in PDF_PAGES]
    write_minimal_pdf(
        DOCS / "05-handling-and-care.pdf",
        pages,
        title="Handling and Care of the Collection",
        author="Library Volunteer Team",
    )
    (DOCS / "07-name-authority-notes.txt").write_bytes(LATIN1_TEXT.encode("latin-1"))


if __name__ == "__main__":
    main()
