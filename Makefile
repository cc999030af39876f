# Two set-up commands: `make demo` (the main job on the embedded default data)
# and `make test` (the whole default test suite, lint and types included).
# Each creates .venv if needed; torch goes first so pip never re-resolves it.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint browser clean

$(STAMP): requirements/torch.txt requirements/lock.txt requirements/dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/torch.txt
	$(PY) -m pip install -q -r requirements/lock.txt -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps vos-benchmark==0.1.0
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/inovos demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

# The report's browser test renders the page in Debian's headless Chromium.
browser:
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: $(STAMP) lint browser
	$(PY) -m pytest -n 2 tests

test-all: $(STAMP) lint browser
	$(PY) -m pytest -n 2 -m "" tests

clean:
	rm -rf $(VENV) build src/*.egg-info
