# govnet: every command a person needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(wildcard proto/govnet/*/v1/*.proto)
STAMP_DEPS := $(VENV)/.installed
STAMP_PROTO := govnet/.generated

.PHONY: help
help: ## List every target with one line each
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP_DEPS): requirements.lock pyproject.toml services/_speedups.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation \
		--config-settings editable_mode=compat -e .
	@touch $@

.PHONY: venv
venv: $(STAMP_DEPS) ## Create .venv and install the pinned dependencies (requirements.lock)

$(STAMP_PROTO): $(PROTOS) $(STAMP_DEPS)
	rm -rf govnet
	$(BIN)/python -m grpc_tools.protoc -I proto --python_out=. --grpc_python_out=. \
		--pyi_out=. $(PROTOS)
	find govnet -type d -exec touch {}/__init__.py \;
	@touch $@

.PHONY: proto
proto: $(STAMP_PROTO) ## Generate the gRPC code from proto/ into govnet/ (not committed)

.PHONY: run
run: $(STAMP_PROTO) ## Run one node (GOVNET_DIVISION=320102 make run for a county)
	$(BIN)/govnet node run

.PHONY: run-region
run-region: $(STAMP_PROTO) ## Run a province, a city and a county node linked by federation and shovels
	$(BIN)/govnet region run

.PHONY: run-combined
run-combined: $(STAMP_PROTO) ## Run one node as two processes (all workers, all APIs)
	$(BIN)/govnet node run --combined

.PHONY: demo
demo: $(STAMP_PROTO) ## Submit an application to the running node and show the results
	$(BIN)/govnet demo

.PHONY: lint
lint: $(STAMP_PROTO) ## ruff (lint and format check) and mypy strict on the contract and domains
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

.PHONY: fmt
fmt: $(STAMP_DEPS) ## Format the code and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: test
test: lint ## Lint, then unit, integration and e2e tests against real RabbitMQ and PostgreSQL
	$(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: $(STAMP_PROTO) ## Only the unit tests (no broker, no database server)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

.PHONY: bench
bench: $(STAMP_PROTO) ## Run the benchmarks in tests/bench (not part of make test)
	$(BIN)/python -m pytest tests/bench -s -p no:timeout $(PYTEST_ARGS)

.PHONY: schemas
schemas: $(STAMP_PROTO) ## Write the JSON Schema of every event type to schemas/
	$(BIN)/govnet events schema --out schemas

.PHONY: definitions
definitions: $(STAMP_PROTO) ## Write the RabbitMQ definitions of a node to deploy/rabbitmq/
	$(BIN)/govnet deploy definitions --out deploy/rabbitmq/definitions.json

.PHONY: lock
lock: $(STAMP_DEPS) ## Re-resolve requirements.lock from pyproject.toml
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

.PHONY: clean
clean: ## Remove generated code, caches and local stores (keeps .venv)
	rm -rf govnet var .ruff_cache .mypy_cache .pytest_cache
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
