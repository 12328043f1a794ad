# One entry point per task; CI (.ci/run) runs `make test`, `make matrix` and `make compat`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CHROMIUM := /usr/bin/chromium

.PHONY: install browser deploy-parts jstest spec-sync strict check test lint demo bench docs fuzz soak clean matrix matrix-lowest matrix-newest compat compat-wheels

install: $(STAMP)

$(STAMP): pyproject.toml constraints/test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/test.txt -e ".[dev,postgres,serve,docs,examples,metrics,s3]"
	touch $(STAMP)

# The browser tests drive Debian's Chromium (never a downloaded browser build).
browser:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else echo "install Chromium for the browser tests: sudo apt-get install chromium"; fi; }

# The PgBouncer and deployment tests run Debian's pgbouncer and nginx, started by the tests themselves.
deploy-parts:
	@test -x /usr/sbin/pgbouncer -a -x /usr/sbin/nginx || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq pgbouncer nginx >/dev/null; \
		else echo "install PgBouncer and nginx for the deployment tests: sudo apt-get install pgbouncer nginx"; fi; }

LINTED := $(wildcard src tests benchmarks examples scripts docs/_hooks compat/standins.py)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/pyright
	$(VENV)/bin/pyright -p pyright-strict.json

# The edit loop: lint, types and the unit tier (no PostgreSQL, no processes, no browser, no nginx),
# spread over the machine's cores (the unit tests share nothing but the interpreter's install).
check: lint
	$(PY) -m pytest -q -p no:cacheprovider -m unit -n auto

# Every tier; the 25 slowest tests are listed at the end, so a slow newcomer shows.
test: lint browser deploy-parts jstest
	$(PY) -m pytest --durations=25

# The recorded facts of the specification the tests read, copied from the folder beside the checkout.
SPEC := ../shared/spec
spec-sync:
	cp $(SPEC)/API.md $(SPEC)/names.json $(SPEC)/protocol.schema.json tests/spec_data/
	cp $(SPEC)/golden/*.jsonl tests/spec_data/golden/
	cp $(SPEC)/client/widgets.d.ts $(SPEC)/client/LICENSE tests/spec_data/client/
	cp $(SPEC)/assets/widgets/* tests/spec_data/assets/widgets/

# Strict pyright over src/ alone (also part of `lint`).
strict: $(STAMP)
	$(VENV)/bin/pyright -p pyright-strict.json

jstest:
	node --test tests/playground_js/

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

# Every Python the package supports, each in a venv of its own under the test pins, on the unit
# tier: what the interpreter can change (the services, processes, browser and nginx behave the
# same whichever Python drives them, and run on the main venv's Python in `make test`).
MATRIX_PYTHONS ?= 3.10 3.11 3.12 3.13
MATRIX_TESTS := -m unit tests
MATRIX_RUNS := $(addprefix matrix-,$(MATRIX_PYTHONS))
MATRIX_STAMPS := $(foreach version,$(MATRIX_PYTHONS),.venv-$(version)/.installed-stamp)
QUICK_PYTEST := -q -p no:cacheprovider
FIND_PYTHON := compat/find-python.sh
EXTRAS := ".[dev,postgres,serve,metrics,s3]"

# Both ends of the supported dependency range: the lowest releases on the oldest Python, the
# newest releases (no pins) on the newest. The golden transcripts hold for the test pins only,
# so these ends run the bridge and pipeline suites, not tests/test_spec.py.
LOWEST := constraints/lowest.txt
LOWEST_PYTHON := 3.10
NEWEST_PYTHON := 3.13
RANGE_TESTS := tests/agents_bridge tests/server
# typing-extensions 4.12.2 holds anyio below 4.15, whose pytest plugin imports a name that
# pytest 9.2 deprecates; the suite turns warnings into errors, so that one is let through.
LOWEST_PYTEST := -W "ignore:_pytest.python.CallSpec2:pytest.PytestRemovedIn10Warning"

matrix: $(MATRIX_RUNS) matrix-lowest matrix-newest

$(MATRIX_RUNS): matrix-%: .venv-%/.installed-stamp
	.venv-$*/bin/python -m pytest $(QUICK_PYTEST) $(MATRIX_TESTS)

$(MATRIX_STAMPS): .venv-%/.installed-stamp: pyproject.toml constraints/test.txt
	test -x .venv-$*/bin/python || "$$($(FIND_PYTHON) $*)" -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q --upgrade pip
	.venv-$*/bin/python -m pip install -q -c constraints/test.txt -e $(EXTRAS)
	touch $@

matrix-lowest:
ifeq ($(wildcard $(LOWEST)),)
	@echo "matrix-lowest: $(LOWEST) does not exist, so the lowest supported releases were not tested" >&2
	@exit 1
else
	$(MAKE) --no-print-directory .venv-lowest/.installed-stamp
	.venv-lowest/bin/python -m pytest $(QUICK_PYTEST) $(LOWEST_PYTEST) $(RANGE_TESTS)
endif

# Rebuilt whole when the pins move, so no newer release lingers from an earlier install.
.venv-lowest/.installed-stamp: pyproject.toml $(LOWEST)
	rm -rf .venv-lowest
	"$$($(FIND_PYTHON) $(LOWEST_PYTHON))" -m venv .venv-lowest
	.venv-lowest/bin/python -m pip install -q --upgrade pip
	.venv-lowest/bin/python -m pip install -q -c $(LOWEST) -e $(EXTRAS)
	touch $@

matrix-newest: .venv-newest/.installed-stamp
	.venv-newest/bin/python -m pytest $(QUICK_PYTEST) $(RANGE_TESTS)

.venv-newest/.installed-stamp: pyproject.toml
	rm -rf .venv-newest
	"$$($(FIND_PYTHON) $(NEWEST_PYTHON))" -m venv .venv-newest
	.venv-newest/bin/python -m pip install -q --upgrade pip
	.venv-newest/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e $(EXTRAS)
	touch $@

# The `openai-chatkit` stand-in (compat/) lets packages built on the reference install on this
# one. `make compat-wheels` builds both wheels into dist/ with a constraints file naming them.
DIST := dist
COMPAT_VENV := .venv-compat
# mcp-chatkit-widget requires Python 3.12 or newer.
COMPAT_PYTHON := 3.12
COMPAT_PACKAGES := agent-framework-chatkit adk-chatkit mcp-chatkit-widget
COMPAT_CHECKS := check_install pinned_releases agent_framework_turn adk_turn mcp_widget_turn

# A stand-in for every reference release (compat/reference-releases.txt), so a package pinned to
# any of them installs; the constraints file caps openai-chatkit at the newest one we stand in for.
compat-wheels:
	rm -rf $(DIST)
	$(PYTHON) -m pip wheel -q --no-deps . ./compat -w $(DIST)
	$(PYTHON) compat/standins.py $(DIST)/openai_chatkit-*+chatkit.server-py3-none-any.whl
	cd $(DIST) && { ls chatkit_server-*.whl | cut -d- -f1,2 | sed 's/-/==/'; \
		echo "openai-chatkit<=$$(tail -n 1 ../compat/reference-releases.txt)"; } > constraints.txt

# Installs the packages from the registry into a fresh venv the documented way, checks that
# `chatkit` is this package, then drives a scripted conversation through each one.
compat: compat-wheels $(STAMP)
	rm -rf $(COMPAT_VENV)
	"$$($(FIND_PYTHON) $(COMPAT_PYTHON))" -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q --find-links $(DIST) -c $(DIST)/constraints.txt $(COMPAT_PACKAGES)
	$(COMPAT_VENV)/bin/python -m pip check
	$(VENV)/bin/ruff check compat/checks
	$(VENV)/bin/ruff format --check compat/checks
	$(VENV)/bin/pyright -p compat/checks
	@passed=0; failed=0; for check in $(COMPAT_CHECKS); do \
		if $(COMPAT_VENV)/bin/python compat/checks/$$check.py; then passed=$$((passed + 1)); \
		else failed=$$((failed + 1)); echo "compat: $$check failed" >&2; fi; \
	done; echo "compat: $$passed passed, $$failed failed"; [ "$$failed" = 0 ]

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
	rm -rf .venv-3.* .venv-lowest .venv-newest $(COMPAT_VENV) $(DIST)
