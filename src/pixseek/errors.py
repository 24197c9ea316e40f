"""Typed errors. Library code raises these; the CLI and UI turn them into one-line messages."""

from __future__ import annotations


class PixseekError(Exception):
    """A problem the user can act on. ``str(err)`` is a one-line message, never a traceback.

    The message speaks no client's language (no CLI flag, no UI button). Two optional attributes
    let each client add its own words: ``field``, the setting the message is about (a ``Query`` or
    ``Filters`` attribute such as ``"min_size"``: the CLI names its flag, the UI its box), and
    ``remedy``, a key naming what would fix it (``"reindex"``, ``"search_by_example"``: the CLI and
    the UI each say how, in their own terms).
    """

    def __init__(self, *args: object, field: str | None = None, remedy: str | None = None) -> None:
        super().__init__(*args)
        self.field = field
        self.remedy = remedy


class ModelLoadError(PixseekError):
    """An encoder or its weights could not be loaded (unknown name, missing file, no network)."""


class ModelMismatchError(PixseekError):
    """An index built with one encoder was opened with another."""


class UnsupportedQueryError(PixseekError):
    """The query cannot run on this index (e.g. text search with an image-only encoder)."""


class QueryError(PixseekError):
    """A query that cannot be run as given: no terms, bad weights, a bad filter value, a bad template."""


class ImageDecodeError(PixseekError):
    """A file could not be decoded as an image. ``reason`` is short and stable (shown by ``status``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class CatalogError(PixseekError):
    """The catalogue is unreadable, from a newer pixseek, or otherwise unusable."""


class ActionError(PixseekError):
    """An action on duplicates or its undo cannot start (bad target folder, unreadable manifest...)."""
