"""One error type whose message is fit to show the user as it is."""

from __future__ import annotations


class ZekeError(Exception):
    """An error whose ``message`` is written for the user, never a traceback.

    ``kind`` lets callers decide what to do without parsing text:
    ``unreachable`` (connection refused / DNS), ``timeout`` (no answer in time),
    ``http`` (the server answered with an error status), ``stream`` (the stream
    broke or carried an error), ``config``, ``refused`` (we will not do it),
    ``internal``.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "internal",
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        # an HTTP error's response headers (names lower-cased): a refusal can still
        # carry routing facts worth keeping (X-OMEN-*)
        self.headers = headers

    def __str__(self) -> str:
        return self.message
