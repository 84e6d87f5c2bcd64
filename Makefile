# Two commands do all the set-up on a fresh machine:
#   make demo   - mock agencies + the gateway at http://127.0.0.1:8000/graphql
#   make test   - lint and the full test suite (unit and end-to-end over real HTTP)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

$(BIN)/wardgate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install demo test lint
install: $(BIN)/wardgate

demo: install
	$(BIN)/wardgate demo

lint: install
	$(BIN)/ruff check gateway resolvers mocks tests bench

test: install lint
	$(BIN)/pytest -q
