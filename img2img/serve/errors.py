"""Errors the API answers with: a status and a message naming the problem, as JSON.

Every error body is ``{"error": MESSAGE, "status": CODE}``; no answer carries a traceback.
"""

from __future__ import annotations

__all__ = ["ApiError", "error_body"]


class ApiError(Exception):
    """A request the server refuses: ``status`` (4xx, or 503 when busy) and what is wrong.

    Attributes:
        status: the HTTP status.
        message: the problem, naming the parameter, part or value.
        headers: extra response headers (``Retry-After`` ...).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str) -> dict[str, object]:
    """The JSON body of an error answer."""
    return {"error": message, "status": status}
