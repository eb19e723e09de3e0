VENV ?= .venv
PYTHON ?= python3.11
BIN := $(VENV)/bin

.PHONY: install run migrate test lint typecheck check bench bench-size bench-insights bench-isolation bench-webhook catalogs clean

$(BIN)/seedbot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/seedbot

install: $(BIN)/seedbot

run: install
	$(BIN)/seedbot run

migrate: install
	$(BIN)/seedbot migrate

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy bot handlers runtime seedbot storage tests bench

check: lint typecheck test

catalogs: install
	$(BIN)/python scripts/catalogs.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

bench: install
	$(BIN)/python -m bench.burst
	$(BIN)/python -m bench.size
	$(BIN)/python -m bench.insights

bench-size: install
	$(BIN)/python -m bench.size

bench-insights: install
	$(BIN)/python -m bench.insights

bench-isolation: install
	$(BIN)/python -m bench.isolation

# Webhook mode; two workers need PostgreSQL and Redis on 127.0.0.1.
bench-webhook: install
	$(BIN)/python -m bench.webhook --workers 1,2 \
		--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test \
		--redis-url redis://127.0.0.1:6379/14
