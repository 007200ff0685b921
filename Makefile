# The two commands: `make demo` and `make test`. Everything else is a step they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint services ffmpeg bench clean serve

# The HTTP API (and the admin) under ASGI; HOST/PORT/WEB_WORKERS override the defaults.
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_WORKERS ?= 1

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

ffmpeg:
	@scripts/ensure_services.sh ffmpeg

services:
	@scripts/ensure_services.sh postgres redis ffmpeg

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest tests

serve: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/uvicorn academy.asgi:application --host $(HOST) --port $(PORT) \
		--workers $(WEB_WORKERS) --no-access-log --proxy-headers

demo: $(STAMP) ffmpeg
	$(BIN)/python scripts/demo.py

bench: $(STAMP) services
	$(BIN)/python -m bench.run_all

clean:
	rm -rf var/demo var/tmp
