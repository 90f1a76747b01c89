"""What every API router shares: the error responses it declares (they are part of the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema


class ErrorOut(Schema):
    detail: str


class ValidationErrorOut(Schema):
    detail: list[dict[str, Any]] = Field(description="what in the request is invalid, field by field")


# The error responses routers declare: reads, reads of one thing by id, and writes.
READ_ERRORS = {401: ErrorOut, 403: ErrorOut, 422: ValidationErrorOut}
LOOKUP_ERRORS = {**READ_ERRORS, 404: ErrorOut}
WRITE_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ValidationErrorOut}


def refuse_odd_offset(value):
    """`value` (a datetime or None) when its UTC offset is one a place uses (within ±14:00); ValueError (a
    422 answer) otherwise. Python accepts offsets up to ±23:59, PostgreSQL none beyond ±15:59, so such a
    time is refused before it reaches the database, not answered with a 500."""
    offset = value.utcoffset() if value is not None else None
    if offset is not None and abs(offset.total_seconds()) > 14 * 3600:
        raise ValueError("a time's UTC offset must be within ±14:00")
    return value
