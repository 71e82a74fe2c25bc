"""Errors a user can cause. Front ends show their message as is; no traceback."""

from __future__ import annotations


class LongtailError(Exception):
    """Base of every error whose message a user can act on."""


class NotAProjectError(LongtailError):
    """The path or URL names no longtail project."""


class DamagedProjectError(LongtailError):
    """A longtail project whose database lost a table, a schema version or a readable
    value: "project P is damaged: the table events is missing (schema version 5)"."""


class SchemaVersionError(LongtailError):
    """The project was written by a newer longtail than this one."""


class GeometryError(LongtailError):
    """A polygon, RLE or bitmap that cannot be a mask of the given image."""


class VocabularyError(LongtailError):
    """A vocabulary file that cannot be read, or an unknown category."""


class ImageError(LongtailError):
    """An image that cannot be read or found."""


class NotFoundError(LongtailError):
    """A record (image, category, instance, work item...) that does not exist."""


class ConflictError(LongtailError):
    """An action that contradicts the project's state (a lease held by someone else...)."""


class NotAllowedError(LongtailError):
    """An action the annotator's role does not allow (see pipeline/team/roles.py)."""


class ReadOnlyProjectError(LongtailError):
    """A change asked of a project opened read-only (a read-only folder or mount)."""


class DiskFullError(LongtailError):
    """The disk (or the database's size limit) is full; the change was not saved."""


class PromptError(LongtailError):
    """A box or point prompt that does not lie on the image."""
