# Reconnect: `make run` for the demo, `make test` for the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint fmt bench bench-quick bench-latency bench-pages bench-marking bench-rebooking bench-reminders bench-pipeline faults check venv clean

venv: $(STAMP)

$(STAMP): requirements/base.txt requirements/dev.txt requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Reconnect needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	rm -f $(VENV)/.installed-*
	touch $@

# The port `make run` serves on: `WEB_PORT=8123 make run`, or WEB_PORT in .env.
# Links in the demo's emails follow it (SITE_URL defaults to this address).
WEB_PORT ?= $(or $(shell sed -n 's/^WEB_PORT=//p' .env 2>/dev/null | tail -n 1),8000)
export WEB_PORT

run: venv
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Reconnect is starting on http://127.0.0.1:$(WEB_PORT)/ (web, Celery worker and beat). Ctrl-C stops all three."
	@# honcho exits 130 after Ctrl-C: that is how the demo is meant to stop, not an error.
	@PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho start -f Procfile || [ $$? -eq 130 ]

test: venv
	mkdir -p var
	bash scripts/ensure-chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: venv
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=practice.settings.production SECRET_KEY=check-deploy-$$(date +%s)-0123456789abcdefghijklmnopqrstuvwxyz ALLOWED_HOSTS=reconnect.example.org \
		DATABASE_URL=$${DATABASE_URL:-sqlite:///$(CURDIR)/var/check.sqlite3} REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
		EMAIL_URL=$${EMAIL_URL:-smtp://127.0.0.1:25} SITE_URL=$${SITE_URL:-https://reconnect.example.org} \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

# The bench suite of issue 11 (bench/suite.py): every bench below in one run, then
# bench/results/suite-<date>.md with each figure, its target and whether it was met.
# About an hour (the 1M-row database, 10,000 reminders); `make bench-quick` for a first look.
bench: venv
	mkdir -p var
	$(BIN)/python bench/suite.py

bench-quick: venv
	mkdir -p var
	$(BIN)/python bench/suite.py --quick

# Mark a no-show, time until its follow-up reaches the SMTP server, one at a time (BENCH_COUNT).
bench-latency: venv
	mkdir -p var
	$(BIN)/python bench/latency.py --count $${BENCH_COUNT:-100}

# The reminder sweep at scale (issue 9): PostgreSQL, its own Redis, 2 workers, beat and an SMTP sink.
# BENCH_COUNT sessions (10,000 by default) fall due in the same minute; see bench/reminders.py.
bench-reminders: venv
	mkdir -p var
	$(BIN)/python bench/reminders.py --count $${BENCH_COUNT:-10000} --pool $${BENCH_POOL:-prefork}

# The after-miss pipeline (issue 11): BENCH_COUNT no-shows (5,000 by default) marked in a burst, 2 workers,
# beat, PostgreSQL bench_pipe, its own Redis (port 6391) and an SMTP sink; then single marks' latency.
bench-pipeline: venv
	mkdir -p var
	$(BIN)/python bench/pipeline.py --count $${BENCH_COUNT:-5000}

# Staff pages against Django admin's own pages (issue 11): PostgreSQL database bench_pages
# (BENCH_PAGES_DATABASE_URL), Redis db 8 (BENCH_REDIS_URL); writes bench/results/pages-<date>.md.
# --large then adds 1M appointments and their rows (about 2 minutes, 8 GB free disk) and measures
# again; BENCH_PAGES_ARGS= skips that.
BENCH_PAGES_ARGS ?= --large
bench-pages: venv
	mkdir -p var
	$(BIN)/python bench/pages.py $(BENCH_PAGES_ARGS)

# Marking outcomes over HTTP (issue 11): PostgreSQL database bench_marking
# (BENCH_MARKING_DATABASE_URL), a redis-server of its own on port 6392 (BENCH_REDIS_URL to use
# another; then no outage round); writes bench/results/marking-<date>.md.
bench-marking: venv
	mkdir -p var
	$(BIN)/python bench/marking.py $(BENCH_MARKING_ARGS)
# The client's rebooking page against django-appointment's available-slots endpoint (issue 11):
# django-appointment in its own virtualenv under var/ (pip, once), PostgreSQL databases bench_rebooking
# and bench_rebooking_appt, Redis db 11; writes bench/results/rebooking-<date>.md.
bench-rebooking: venv
	mkdir -p var
	$(BIN)/python bench/rebooking.py

# The fault suite (issue 8): PostgreSQL, its own Redis, real workers, beat, gunicorn and SMTP;
# tens of minutes at full scale. Not part of `make test` or CI. See docs/operations.md.
faults: venv
	mkdir -p var
	$(BIN)/python -m bench.faults

clean:
	rm -rf var/test-*.sqlite3* var/broker-test-* .pytest_cache
