# The two commands a new user needs: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

# `make deb ARCH=arm64` builds dist/signage-agent_<version>_arm64.deb (docs/packaging.md);
# CLOUD_URL=https://... sets cloud_url in the package's agent.toml.
ARCH ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
CLOUD_URL ?=

.PHONY: demo test lint bootstrap bench clean deb lock

bootstrap:
	@./scripts/bootstrap.sh

demo: bootstrap
	@$(PY) scripts/demo.py

test: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

deb: bootstrap
	@$(PY) packaging/build_deb.py --arch $(ARCH) $(if $(CLOUD_URL),--cloud-url $(CLOUD_URL))

lock: bootstrap
	@$(PY) packaging/wheels.py lock

bench: bootstrap
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info demo-data dist
