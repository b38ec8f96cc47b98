"""The local SQLite cache and its numbered migrations."""
