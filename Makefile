# One entry point per task; CI runs `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CHROMIUM := /usr/bin/chromium

.PHONY: install browser test lint demo bench docs fuzz soak clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints/test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/test.txt -e ".[dev,postgres,serve,docs,examples]"
	touch $(STAMP)

# The browser tests drive Debian's Chromium (never a downloaded browser build).
browser:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else echo "install Chromium for the browser tests: sudo apt-get install chromium"; fi; }

LINTED := $(wildcard src tests benchmarks examples scripts docs/_hooks)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/pyright

test: lint browser
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/chatkit demo

bench: $(STAMP)
	$(PY) benchmarks/run.py

fuzz: $(STAMP)
	$(PY) scripts/reliability/fuzz.py --requests 100000 --postgres

soak: $(STAMP)
	$(PY) scripts/reliability/soak.py --clients 500 --seconds 60

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
