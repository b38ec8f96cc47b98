"""Talking to model servers: HTTP streaming, SSE/NDJSON decoding, the event vocabulary."""
