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

.PHONY: install system-deps bench-deps bench demo test lint check test-fast noninterference
install: $(BIN)/wardgate

# The test suite starts its own Redis servers (the shared cache, rate limits and circuit breakers are tested
# against a real one) and its own nginx (the load balancer in front of two gateway instances), each on free
# loopback ports with its configuration in a temporary directory. RUNLEVEL=1 keeps the package's install script
# from starting Debian's own nginx service on port 80, which nothing here uses.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@for pkg in redis-server:redis-server nginx:nginx; do cmd=$${pkg%%:*}; deb=$${pkg#*:}; \
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
	WARDGATE_NI_EXAMPLES=1000 $(BIN)/pytest -q -s tests/e2e/test_noninterference.py

# The fast half: everything but the end-to-end suite (no servers started).
test-fast: install check
	$(BIN)/pytest -q -m "not e2e"
