# One entry point for people and CI. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(VENV)-tools/bin/uv)

.PHONY: install demo test bench lint clean

$(VENV)-tools/bin/uv:
	$(PYTHON) -m venv $(VENV)-tools
	$(VENV)-tools/bin/python -m pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.synced node_modules/.installed

demo: $(VENV)/.synced
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/run.py

WORKFLOWS := $(wildcard .github/workflows/*.yml examples/workflows/*.yml)

# actionlint checks action.yml's inputs and outputs through ci.yml's `uses: ./` steps, and the
# `run:` scripts with shellcheck; tests/test_workflows.py also lints the README's and docs'
# workflows and the examples against action.yml.
lint: $(VENV)/.synced
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-actions action.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(VENV)/bin/actionlint -shellcheck=$(VENV)/bin/shellcheck -pyflakes= $(WORKFLOWS)
	$(VENV)/bin/shellcheck .ci/run .ci/pin-image .ci/release-notes
	$(VENV)/bin/hadolint Dockerfile

clean:
	rm -rf $(VENV) $(VENV)-tools node_modules .pytest_cache
