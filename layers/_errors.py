"""Exceptions that carry a message a user can act on."""

from __future__ import annotations


class LayersError(Exception):
    """Base class: the message says what was wrong and how to fix it."""


class InputFileError(LayersError):
    """An input file cannot be read or does not have what it needs."""


class StoreError(LayersError):
    """The store is missing, empty or inconsistent."""


class TaxonomyError(LayersError):
    """The collaboration-area configuration is invalid."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached right now; trying again later may work."""
