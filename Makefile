# imagehost: `make run` starts the service on embedded defaults, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean services services-stop

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	MALLOC_ARENA_MAX=2 $(BIN)/imagehost serve --host 127.0.0.1 --port 8080

# Starts Swift (S3 API) and PostgreSQL on loopback for the run, stops them after.
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	PYTHON=$(BIN)/python scripts/run-tests.sh -q

# Development servers: eval "$$(make -s services)" loads their environment.
services:
	@scripts/services/all.sh start

services-stop:
	@scripts/services/all.sh stop

lint: $(STAMP)
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	test -x /usr/bin/convert || \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends imagemagick)
	$(BIN)/python bench/upload.py

clean: services-stop
	rm -rf $(VENV) var .pytest_cache
