# imagehost: `make run` starts the service on embedded defaults, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs the runtime only (what `pip install imagehost` gives); the tests, lint
# and benchmarks add the test extra (which includes the swift and celery extras).
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed

.PHONY: run test docker-test lint bench fuzz clean services services-stop screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(RUNTIME_STAMP)
	$(BIN)/imagehost serve --host 127.0.0.1 --port 8080

# Starts Swift (S3 API) and PostgreSQL on loopback for the run, stops them after; then the
# Docker image and compose stack, built and run (needs root or a Docker engine;
# IMAGEHOST_SKIP_DOCKER=1 skips it).
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	PYTHON=$(BIN)/python scripts/run-tests.sh -q
	@if [ "$${IMAGEHOST_SKIP_DOCKER:-0}" = 1 ]; then \
		echo "make test: IMAGEHOST_SKIP_DOCKER=1: the Docker test is skipped"; \
	else scripts/docker-test.sh; fi

# The Docker image and the compose stack (scripts/docker-test.sh: engine, base, image, stack).
docker-test:
	scripts/docker-test.sh

# Development servers: eval "$$(make -s services)" loads their environment.
services:
	@scripts/services/all.sh start

services-stop:
	@scripts/services/all.sh stop

lint: $(STAMP)
	$(BIN)/ruff check --fix src tests bench

# The web page's screenshots in docs/screenshots, taken by its browser tests (tests/ui).
screenshots: $(STAMP)
	IMAGEHOST_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/ui/test_pages.py

# Every parser of client input fuzzed for MINUTES (tests/property/fuzz_targets.py).
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz.py --minutes $(or $(MINUTES),5)

bench: $(STAMP)
	test -x /usr/bin/convert || \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends imagemagick)
	$(BIN)/python bench/upload.py

clean: services-stop
	rm -rf $(VENV) var .pytest_cache
