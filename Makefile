# The two commands: `make demo` and `make test` (`make unit` runs the unit tier alone).
# Benchmarks are run one by one: python -m bench.<name> (docs/PERFORMANCE.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit lint services browser ffmpeg clean serve lock image-lint image-test

# The web pages, the HTTP API and the admin under ASGI; HOST/PORT/WEB_WORKERS override the
# defaults.
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
	$(MAKE) image-lint image-test

# The image's Python dependencies, every version pinned with its hashes, from pyproject.toml's
# ranges (infra/Dockerfile installs exactly these; a unit test fails when they disagree).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --universal \
		--python-version 3.11 --custom-compile-command 'make lock' -o infra/requirements.lock

# checkov pins an older `packaging` than pytest needs: it lives in a virtualenv of its own.
CHECKOV := $(VENV)/checkov/.installed
$(CHECKOV): infra/checkov-requirements.txt
	test -x $(VENV)/checkov/bin/python || $(PY) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install -q -r infra/checkov-requirements.txt
	touch $(CHECKOV)

# The Dockerfiles' linters: hadolint, and checkov's Dockerfile and secrets checks on infra/.
image-lint: $(STAMP) $(CHECKOV)
	$(BIN)/hadolint infra/Dockerfile infra/podman/standins/*.Dockerfile
	$(VENV)/checkov/bin/checkov -d infra --framework dockerfile secrets --skip-download --compact --quiet

# The image built and run for real with Debian's podman (infra/README.md, "Smoke test").
image-test: services
	scripts/container_smoke.sh

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
