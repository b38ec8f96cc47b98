"""One request end to end: context, hints, routing, degraded mode."""
