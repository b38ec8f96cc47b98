"""`python -m zeke host` (started by the Lua side) or `python -m zeke doctor`."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys


def _setup_logging() -> None:
    path = os.environ.get("ZEKE_LOG_FILE")
    level = getattr(logging, os.environ.get("ZEKE_LOG_LEVEL", "info").upper(), logging.INFO)
    root = logging.getLogger("zeke")
    root.setLevel(level)
    if path:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handler: logging.Handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=1_000_000, backupCount=2, encoding="utf-8"
            )
        except OSError:
            handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


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
