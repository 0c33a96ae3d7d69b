# The two commands: `make run` (whole product, demo tenant, foreground) and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint format bench-webhook clean

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq python3.11-venv && $(PYTHON) -m venv $(VENV); } \
		|| { echo "Could not create a virtualenv: install python3.11-venv"; exit 1; }
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	@bash scripts/run_dev.sh

test: $(STAMP)
	@bash scripts/run_tests.sh $(ARGS)

# Issue 13 §4: the webhook parser's property tests and schemathesis over the tenant API, with
# many more examples than `make test` runs (HYPOTHESIS_MAX_EXAMPLES per property,
# SCHEMATHESIS_MAX_EXAMPLES per operation and scheme, plus schemathesis' coverage phase).
fuzz: $(STAMP)
	@HYPOTHESIS_MAX_EXAMPLES=$${HYPOTHESIS_MAX_EXAMPLES:-5000} \
		SCHEMATHESIS_MAX_EXAMPLES=$${SCHEMATHESIS_MAX_EXAMPLES:-200} \
		SCHEMATHESIS_COVERAGE=$${SCHEMATHESIS_COVERAGE:-1} \
		bash scripts/run_tests.sh conversations/tests/test_parser_properties.py tests/test_openapi_fuzz.py $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports  # the arrows between apps (pyproject.toml [tool.importlinter])

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench-webhook: $(STAMP)
	$(PY) bench/webhook_throughput.py

clean:
	rm -rf var/test-logs var/staticfiles
