"""One request end to end: context, hints, routing, degraded mode (ARCHITECTURE.md, The engine)."""
