"""The local SQLite cache and its numbered migrations.

``cache`` is the public face (``Cache`` and its records); ``records``,
``stats``, ``connection``, ``failures`` and ``schema`` are its parts.
"""
