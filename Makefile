# The two commands: `make demo` and `make test` (`make unit` runs the unit tier alone).
# Benchmarks are run one by one: python -m bench.<name> (docs/PERFORMANCE.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit lint infra-lint services browser ffmpeg clean serve lock image-lint \
	image-test

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

# checkov pins boto3 and packaging below what the project needs (pytest 9 refuses its
# packaging<24), so it gets a venv of its own; the version range is pyproject.toml's
# `infra-lint` extra.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): pyproject.toml $(STAMP)
	test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(BIN)/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", \
		"rb"))["project"]["optional-dependencies"]["infra-lint"]))' > $(CHECKOV_VENV)/requirements.txt
	$(CHECKOV_VENV)/bin/python -m pip install -q -r $(CHECKOV_VENV)/requirements.txt
	touch $(CHECKOV_STAMP)

# The AWS stack's linters: every cfn-lint finding and every checkov check (skips only inline,
# with their reasons, in the files themselves).
infra-lint: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/cfn-lint infra/*.yaml
	$(CHECKOV_VENV)/bin/checkov -d infra --quiet --compact --skip-download

ffmpeg:
	@scripts/ensure_services.sh ffmpeg espeak-ng

services:
	@scripts/ensure_services.sh postgres redis ffmpeg espeak-ng

# The browser tests' headless browser: Debian's chromium (never a downloaded one), and npm
# for the players the cross-origin test installs (tests/e2e/players/package-lock.json).
browser:
	@scripts/ensure_services.sh chromium npm

# Two pytest-xdist workers, each taking whole files (module fixtures stay in one process):
# most end-to-end tests wait on real time (a player, a lease, a long poll), so two at once
# share the two cores well. Each worker has its own PostgreSQL and Redis databases
# (tests/settings.py, tests/services.py). `make test PYTEST_WORKERS=` runs in one process.
PYTEST_WORKERS ?= -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) $(CHECKOV_STAMP) services browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory infra-lint image-lint
	$(BIN)/python -m pytest tests $(PYTEST_WORKERS)
	$(MAKE) --no-print-directory image-test

# The image's Python dependencies, every version pinned with its hashes, from pyproject.toml's
# ranges (infra/Dockerfile installs exactly these; a unit test fails when they disagree).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --universal \
		--extra captions --python-version 3.11 --custom-compile-command 'make lock' -o infra/requirements.lock

# Every Dockerfile's linter (checkov's Dockerfile and secrets checks run in infra-lint).
image-lint: $(STAMP)
	$(BIN)/hadolint infra/Dockerfile infra/podman/standins/*.Dockerfile

# The image built and run for real with Debian's podman (infra/README.md, "Smoke test on a
# machine without Docker").
image-test: services
	scripts/container_smoke.sh

# Development settings (debug on, a development secret key and pepper) unless the environment
# sets them: academy/development.py fills in what is missing and says so.
DEV := $(BIN)/python -m academy.development

serve: $(STAMP)
	$(DEV) $(BIN)/python manage.py migrate --noinput
	$(DEV) $(BIN)/python manage.py collectstatic --noinput -v0
	$(DEV) $(BIN)/python -m academy.serve --host $(HOST) --port $(PORT) --workers $(WEB_WORKERS)

# The unit tier alone: fakes only, no PostgreSQL, Redis or ffmpeg needed.
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# The whole pipeline on embedded defaults; `make demo KEEP=1` (scripts/demo.py --keep) ends by
# printing the web page's URL and its API key and leaves everything up until Ctrl-C.
demo: $(STAMP) ffmpeg
	$(BIN)/python scripts/demo.py $(if $(filter 1,$(KEEP)),--keep)

clean:
	rm -rf var/demo var/tmp
