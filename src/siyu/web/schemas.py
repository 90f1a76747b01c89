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
