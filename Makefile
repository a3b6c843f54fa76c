# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AZURITE_DIR := .local/azurite

.PHONY: run test lint install token clean bench openapi-examples

install: $(VENV)/.installed $(AZURITE_DIR)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(AZURITE_DIR)/.installed: devhost/npm/package.json devhost/npm/package-lock.json
	mkdir -p $(AZURITE_DIR)
	cp devhost/npm/package.json devhost/npm/package-lock.json $(AZURITE_DIR)/
	cd $(AZURITE_DIR) && npm ci --no-audit --no-fund --silent
	touch $@

## Start Azurite, the provider simulator and the app on the local functions host; Ctrl-C stops all.
## Options (ports, state folder): make run ARGS="--help"
run: install
	$(BIN)/python -m devhost.run $(ARGS)

## Lint, type-check and run every test (starts and stops its own Azurite and simulator).
test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## Mint a local development token: make token ARGS="--org contoso --sub alice --role admin"
token: install
	@$(BIN)/python -m shared.auth.mint $(ARGS)

## Refresh the request/response examples of the OpenAPI document from an end-to-end run.
openapi-examples: install
	OPENAPI_EXAMPLES_OUT=shared/http/openapi_examples.json $(BIN)/python -m pytest tests/e2e -k "not convergence"

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
