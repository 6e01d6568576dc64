# Every target installs what it needs first, so each one works on a fresh clone.
# Quickstart: `make run` (install + the whole pipeline on the default data), `make test` (install + tests).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# Debian's Chromium: Playwright's own browser download needs the internet.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export UV_PYTHON_DOWNLOADS := never
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install run train test lint format web mlflow-ui benchmark-data benchmark-train benchmark-web

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml uv.lock
	python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	python3 -m uv sync --frozen --extra dev
	touch $@

web/vendor/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund && npm run build
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

install: $(BIN)/.installed web/vendor/.installed ## Python env in .venv (from uv.lock) and the page's TF.js (from package-lock.json)

run: install ## The main job: `dvc repro` (ingest, preprocess, train all variants, evaluate, export)
	dvc repro

train: install ## Only the training pipeline, all variants: kedro run --pipelines train
	kedro run --pipelines train

test: install $(CHROMIUM) ## Lint, then the whole test suite
	ruff check .
	ruff format --check .
	pytest

lint: install ## Lint and check formatting
	ruff check .
	ruff format --check .

format: install ## Fix what ruff can fix
	ruff check --fix .
	ruff format .

web: install ## Serve web/ on http://127.0.0.1:8000 (camera access needs localhost or HTTPS)
	python web/serve.py --port 8000

mlflow-ui: install ## Open the MLflow UI on http://127.0.0.1:5000
	kedro mlflow ui

benchmark-data: install ## Time ingest + preprocess on the full shared zip
	python benchmarks/data_pipeline.py

benchmark-train: install ## Accuracy and speed of every variant on the full data, and a full dvc repro
	python benchmarks/training.py

benchmark-web: install $(CHROMIUM) ## Per-frame inference latency in headless Chromium
	python benchmarks/web_latency.py
