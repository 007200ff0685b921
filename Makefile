# The two commands: `make demo` and `make test` (`make unit` runs the unit tier alone).
# Benchmarks are run one by one: python -m bench.<name> (docs/PERFORMANCE.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit lint services browser ffmpeg clean serve

# The web pages, the HTTP API and the admin under ASGI; HOST/PORT/WEB_WORKERS override the
# defaults.
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_WORKERS ?= 1

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,captions]'
	touch $(STAMP)

ffmpeg:
	@scripts/ensure_services.sh ffmpeg espeak-ng

services:
	@scripts/ensure_services.sh postgres redis ffmpeg espeak-ng

# The browser tests' headless browser: Debian's chromium (never a downloaded one).
browser:
	@scripts/ensure_services.sh chromium

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) services browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest tests

serve: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/uvicorn academy.asgi:application --host $(HOST) --port $(PORT) \
		--workers $(WEB_WORKERS) --no-access-log --proxy-headers

# The unit tier alone: fakes only, no PostgreSQL, Redis or ffmpeg needed.
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# The whole pipeline on embedded defaults; `make demo KEEP=1` (scripts/demo.py --keep) ends by
# printing the web page's URL and its API key and leaves everything up until Ctrl-C.
demo: $(STAMP) ffmpeg
	$(BIN)/python scripts/demo.py $(if $(filter 1,$(KEEP)),--keep)

clean:
	rm -rf var/demo var/tmp
