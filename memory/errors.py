"""Errors raised by the memory package, named for what went wrong.

StoreError (root)
├── DatabaseUnavailable     the database cannot be reached or went away; nothing was written
├── DatabaseMisconfigured   the database is reachable but unusable (e.g. no pgvector)
├── EmbedderUnavailable     the embedding model failed to load or returned vectors of the wrong size
├── InvalidInput            the caller passed bad input; retrying the same request will not help
│   ├── InvalidMemory       a memory's text, layer or id, a recall query, a memory import file
│   └── InvalidRecord       a record's fields: amounts, currency, invoice numbers and dates, statuses,
│                           task/event/contact/draft/reminder/mail fields, plan edits, modes
├── NotFound                no memory or record with that id in this workspace
└── Superseded              a worker's claim on a plan step was lost (dropped, reassigned, taken over)

``InvalidInput`` is also a ``ValueError`` and ``NotFound`` a ``LookupError``. Catch ``InvalidInput``
to handle any bad request; catch ``InvalidMemory`` or ``InvalidRecord`` when only one can happen.
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of every error the memory package raises."""


class DatabaseUnavailable(StoreError):
    """Postgres could not be reached, or the connection dropped. Nothing was written."""


class DatabaseMisconfigured(StoreError):
    """Postgres answered but cannot host SoloOS (e.g. the vector extension is missing)."""


class EmbedderUnavailable(StoreError):
    """The embedding model could not be loaded, or it returns vectors the memory index cannot hold."""


class InvalidInput(StoreError, ValueError):
    """The request itself is wrong; retrying will not help."""


class InvalidMemory(InvalidInput):
    """A memory request is wrong: empty or oversized text, unknown layer, bad or ambiguous id, no query."""


class InvalidRecord(InvalidInput):
    """A record's fields are wrong: an amount, a currency, an invoice number or date, a status, a plan edit…"""


class NotFound(StoreError, LookupError):
    """No such memory or record in this workspace."""


class Superseded(StoreError):
    """A worker's claim on a plan step was lost: dropped, reassigned, cancelled or taken over."""


__all__ = [
    "DatabaseMisconfigured",
    "DatabaseUnavailable",
    "EmbedderUnavailable",
    "InvalidInput",
    "InvalidMemory",
    "InvalidRecord",
    "NotFound",
    "StoreError",
    "Superseded",
]
