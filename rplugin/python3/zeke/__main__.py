"""`python -m zeke host` (started by the Lua side) or `python -m zeke doctor`."""

from __future__ import annotations

import logging
import os
import sys

LOG_LIMIT = 1_000_000  # bytes of zeke.log before it is rotated


def _setup_logging() -> None:
    path = os.environ.get("ZEKE_LOG_FILE")
    level = getattr(logging, os.environ.get("ZEKE_LOG_LEVEL", "info").upper(), logging.INFO)
    root = logging.getLogger("zeke")
    root.setLevel(level)
    if path:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _rotate(path)
            handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
        except OSError:
            handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def _rotate(path: str, keep: int = 2, limit: int = LOG_LIMIT) -> None:
    """Rotate the log when a host starts and it is over ``limit`` bytes (path.1 is the
    newest old log). At start, not as it grows: logging.handlers' rotating handler
    costs every cold start ~5 ms (it imports pickle), and one session logs little."""
    try:
        if os.path.getsize(path) <= limit:
            return
    except OSError:
        return
    for n in range(keep, 1, -1):
        if os.path.exists(f"{path}.{n - 1}"):
            os.replace(f"{path}.{n - 1}", f"{path}.{n}")
    os.replace(path, f"{path}.1")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "host"
    if command == "host":
        _setup_logging()
        from zeke.host import adapter as host

        host.run()
        return 0
    if command == "doctor":
        from zeke import health

        return health.main(args[1:])
    print(f"usage: python -m zeke [host|doctor [--json]] (got {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
