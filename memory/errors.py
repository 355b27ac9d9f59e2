"""Errors raised by the memory package.

MemoryError_ (root)
├── DatabaseUnavailable   the database cannot be reached or went away; nothing was written
├── DatabaseMisconfigured the database is reachable but unusable (e.g. no pgvector)
├── InvalidMemory         the caller passed bad input (empty text, unknown layer, bad id)
└── NotFound              no memory or record with that id in this workspace
"""

from __future__ import annotations


class MemoryError_(Exception):
    """Root of every error the memory package raises."""


class DatabaseUnavailable(MemoryError_):
    """Postgres could not be reached, or the connection dropped. Nothing was written."""


class DatabaseMisconfigured(MemoryError_):
    """Postgres answered but cannot host SoloOS (e.g. the vector extension is missing)."""


class InvalidMemory(MemoryError_, ValueError):
    """The request itself is wrong; retrying will not help."""


class NotFound(MemoryError_, LookupError):
    """No such memory or record in this workspace."""
