"""HTTP-level errors: what a caller did wrong, with the status and a stable code to answer."""

from __future__ import annotations

from admit.core.errors import AdmitError


class HTTPError(AdmitError):
    """A request the server refuses; answered as JSON `{"code": ..., "message": ...}`."""

    code = "bad_request"
    http_status = 400

    def __init__(self, message: str, *, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code
