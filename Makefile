# Two commands do all the set-up on a fresh machine:
#   make demo   - mock agencies + the gateway at http://127.0.0.1:8000/graphql
#   make test   - lint and the full test suite (unit and end-to-end over real HTTP)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUPPORTED_PYTHONS := 3.11 3.12 3.13

# The Python that would build .venv, and the one that built it. A .venv made by another Python (or one that no
# longer runs) is rebuilt, saying so, instead of being reused with the same failure every time.
version = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PY_WANT := $(call version,$(PYTHON))
ifeq ($(PY_WANT),)
$(error $(PYTHON) does not run here: install Python 3.11, 3.12 or 3.13, or name one: make PYTHON=python3.12 ...)
endif
ifeq ($(filter $(PY_WANT),$(SUPPORTED_PYTHONS)),)
$(error $(PYTHON) is Python $(PY_WANT); Wardgate supports 3.11, 3.12 and 3.13: make PYTHON=python3.12 ...)
endif
ifneq ($(wildcard $(VENV)),)
PY_HAVE := $(call version,$(BIN)/python)
ifneq ($(PY_HAVE),$(PY_WANT))
$(info $(VENV) was made by $(if $(PY_HAVE),Python $(PY_HAVE),a Python that no longer runs), not $(PYTHON) ($(PY_WANT)): rebuilding it)
$(shell rm -rf $(VENV))
endif
endif

$(BIN)/wardgate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: install system-deps bench-deps bench demo test lint check test-fast test-pythons noninterference
install: $(BIN)/wardgate

# The test suite starts its own Redis servers (the shared cache, rate limits and circuit breakers are tested
# against a real one) and its own nginx (the load balancer in front of two gateway instances), each on free
# loopback ports with its configuration in a temporary directory, and runs the GraphQL-over-HTTP audit with
# Node.js (tests/e2e/http-audit installs its npm package on first use). RUNLEVEL=1 keeps nginx's install
# script from starting Debian's own nginx service on port 80, which nothing here uses.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@for pkg in redis-server:redis-server nginx:nginx node:nodejs npm:npm; do cmd=$${pkg%%:*}; deb=$${pkg#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || { \
	  echo "installing $$deb (Debian package) for the test suite"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q $$deb >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q $$deb >/dev/null; }; }; done

# The benchmarks need wrk (load generator) and Node.js/npm (the Hive Gateway peer, installed by bench/hive.py).
bench-deps:
	@for pkg in wrk:wrk npm:"nodejs npm"; do cmd=$${pkg%%:*}; debs=$${pkg#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || { echo "installing $$debs (Debian) for the benchmarks"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$debs >/dev/null; }; done

# Every benchmark, one after another (about 25 minutes; the soak alone is 10). Figures: bench/results/.
bench: install system-deps bench-deps
	$(BIN)/python -m bench.policy
	$(BIN)/python -m bench.timing
	$(BIN)/python -m bench.gateway
	$(BIN)/python -m bench.peer
	$(BIN)/python -m bench.growth
	$(BIN)/python -m bench.soak
	$(BIN)/python -m bench.linkage
	$(BIN)/python -m bench.scale

demo: install
	$(BIN)/wardgate demo

CODE := gateway resolvers mocks support tests bench

# Every static check: formatting, lint, strict types, and the import contracts (layers, no circles).
check: install
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/ruff check $(CODE)
	$(BIN)/mypy
	$(BIN)/lint-imports

lint: check

test: install system-deps check
	$(BIN)/pytest -q

# The non-interference property at length: a thousand examples for every kind of twin (the suite runs twelve).
noninterference: install system-deps
	NONINTERFERENCE_EXAMPLES=1000 $(BIN)/pytest -q -s tests/e2e/test_noninterference.py

# The fast half: everything but the end-to-end suite (no mock agencies or gateway started; a few unit tests
# open a loopback test server of their own).
test-fast: install check
	$(BIN)/pytest -q -m "not e2e"

# The fast half again under every other supported Python found here (CI runs `make test` on the machine's
# python3): each gets its own .venv-X.Y, kept between runs.
test-pythons:
	@for v in $(filter-out $(PY_WANT),$(SUPPORTED_PYTHONS)); do py=; \
	  for c in python$$v $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v 2>/dev/null); do \
	    $$c -c '' 2>/dev/null && { py=$$c; break; }; done; \
	  [ -n "$$py" ] || { echo "Python $$v: not found, skipped"; continue; }; \
	  echo "== Python $$v ($$py)"; \
	  [ -x .venv-$$v/bin/pytest ] || { $$py -m venv .venv-$$v && .venv-$$v/bin/pip install --quiet -e '.[dev]'; } || exit 1; \
	  .venv-$$v/bin/wardgate --version && .venv-$$v/bin/pytest -q -m "not e2e" -p no:cacheprovider || exit 1; \
	done
