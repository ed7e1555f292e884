# imagehost: `make run` starts the service on embedded defaults, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	MALLOC_ARENA_MAX=2 $(BIN)/imagehost serve --host 127.0.0.1 --port 8080

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	test -x /usr/bin/convert || \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends imagemagick)
	$(BIN)/python bench/upload.py

clean:
	rm -rf $(VENV) var .pytest_cache
