# The same commands run on a developer's machine and in CI (.ci/run calls `make test`).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST := 127.0.0.1
PORT := 5000
PORTAL_PORT := 5001

.PHONY: run test check lint bench bench-peer bench-scale install translations migrate browser clean wheel

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,examples]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# Compiled catalogues are build output (.gitignore); the .po files are the source.
translations: install
	$(VENV)/bin/pybabel compile -d translations >/dev/null

migrate: install
	$(VENV)/bin/clef db upgrade

# Clef, the sample employer portal (registered with Clef on first run) and the
# back-channel logout worker, side by side under honcho (config/Procfile).
run: translations migrate
	$(PY) examples/employer_portal/register.py --url http://$(HOST):$(PORTAL_PORT)
	$(PY) examples/demo_bank/register.py --clef http://$(HOST):$(PORT)
	@echo "Clef on http://$(HOST):$(PORT)/, the sample employer portal on http://$(HOST):$(PORTAL_PORT)/, a demonstration sign-in partner on http://localhost:5002/  (Ctrl-C stops them)"
	CLEF_BIND=$(HOST):$(PORT) PORTAL_BIND=$(HOST):$(PORTAL_PORT) \
	PORTAL_ISSUER=http://$(HOST):$(PORT) PORTAL_URL=http://$(HOST):$(PORTAL_PORT) \
	exec $(VENV)/bin/honcho --procfile config/Procfile --app-root . start

# Browser tests drive Debian's Chromium; install it when missing and we may (root).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
		echo "!!! /usr/bin/chromium is missing and cannot be installed (not root):       !!!"; \
		echo "!!! the BROWSER TESTS WILL BE SKIPPED. Install it: apt-get install chromium  !!!"; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi

test: translations browser lint
	$(PY) -m pytest

# The inner loop: lint, then every test but the browser, statistical (slow) and process ones
# (a real server, `make run` or a database cluster of their own), on SQLite only, in
# CHECK_JOBS processes (0: in this one). `make test` (and CI) runs everything.
CHECK_JOBS ?= 2
check: translations lint
	env -u IDP_TEST_DATABASE_URL -u IDP_TEST_REDIS_URL \
		$(PY) -m pytest -q -n $(CHECK_JOBS) -m "not browser and not slow and not process"

lint: install
	$(VENV)/bin/ruff check idp mfa recovery partners examples tests bench
	$(VENV)/bin/mypy idp mfa recovery partners examples

# Clef under a real server (granian as deployed; CLEF_BENCH_SERVER=gunicorn for gunicorn's
# sync worker), driven over HTTP by the shared load driver (bench/run.py):
# SQLite, and PostgreSQL + Redis when BENCH_PG names a database (its schema is reset). The peer's figures are
# shown beside them once `make bench-peer` has installed and run it (npm registry).
BENCH_PG ?=
BENCH_REDIS ?= redis://127.0.0.1:6379/8
bench: translations
	CLEF_BENCH_PG=$(BENCH_PG) CLEF_BENCH_REDIS=$(BENCH_REDIS) $(PY) bench/run.py
	$(PY) bench/floor.py
	@echo "In-process figures (test client):"
	$(PY) bench/signin_throughput.py
	$(PY) bench/provider_round_trip.py

# A wheel that installs and serves without the source tree: templates, static files,
# compiled translations and default settings are inside (setup.py, idp/resources.py).
wheel: install
	$(PY) -m pip wheel --quiet --no-deps -w dist .

bench-peer: install
	PY=$(abspath $(PY)) bash bench/peer.sh

# Cost at 1,000 and at 1,000,000 accounts on PostgreSQL (BENCH_PG required; its schema is reset).
bench-scale: translations
	CLEF_BENCH_PG=$(BENCH_PG) CLEF_BENCH_REDIS=$(BENCH_REDIS) $(PY) bench/scale.py

clean:
	rm -rf $(VENV) instance .pytest_cache dist build
