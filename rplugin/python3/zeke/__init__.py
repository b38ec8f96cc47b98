"""zeke.nvim's engine: context packing, routing hints, streaming, cache, tools.

This package is started by the Lua front end as its own host process
(``python -m zeke``).  It deliberately registers no classic remote plugin, so a
user running ``:UpdateRemotePlugins`` finds nothing here to load and nothing
breaks; importing it must stay cheap and free of third-party imports.
"""

__version__ = "0.1.0"
