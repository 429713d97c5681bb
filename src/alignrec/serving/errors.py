"""What a request did wrong (or asked for that the run cannot do), with the HTTP status the service answers."""

from __future__ import annotations

from alignrec.errors import AlignRecError


class RequestError(AlignRecError):
    """A bad request: ``status`` (4xx), a short ``code``, the ``field`` at fault (query parameter, path part or
    body field) and a message that says what was wrong."""

    status = 422
    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field

    def body(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, "field": self.field}


class NotFound(RequestError):
    status, code = 404, "not_found"


class Unsupported(RequestError):
    """The request is well formed but this run cannot answer it (e.g. no encoder for new items)."""

    status, code = 422, "not_supported_by_this_run"


class BadMedia(RequestError):
    status, code = 415, "not_an_image"


class TooLarge(RequestError):
    status, code = 413, "too_large"
