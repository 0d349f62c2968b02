# The two commands a new user needs: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

# `make deb ARCH=arm64` builds dist/signage-agent_<version>_arm64.deb (docs/packaging.md);
# CLOUD_URL=https://... sets cloud_url in the package's agent.toml.
ARCH ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
CLOUD_URL ?=
# Test processes: most tests wait on timers, sockets and child processes, so a few more than
# the cores finish sooner; TEST_WORKERS=0 runs them in this process (tests/conftest.py).
TEST_WORKERS ?= 4

.PHONY: demo test lint bootstrap bench clean deb lock

bootstrap:
	@./scripts/bootstrap.sh

demo: bootstrap
	@$(PY) scripts/demo.py

test: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup

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
