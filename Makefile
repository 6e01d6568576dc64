# Every target installs what it needs first, so each one works on a fresh clone.
# Quickstart: `make run` (install + the whole pipeline on the default data), `make test` (install + tests).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The project's interpreter: Python 3.11 exactly (TensorFlow 2.19 and tensorflowjs 4.22 are pinned for it).
# `make PYTHON=/path/to/python3.11 run` picks another one. Looked up once, before .venv/bin joins PATH.
ifndef PYTHON
PYTHON := $(firstword $(shell command -v python3.11 python3 2>/dev/null))
endif
VENV := .venv
BIN := $(VENV)/bin
# uv, pinned, in a virtualenv of its own: the system Python is never pip-installed into (PEP 668
# forbids it on Debian and Ubuntu), and PyPI is the only place it comes from. `make UV=uv ...` uses
# an uv you already have instead.
UV_VERSION := 0.13.9
UV_ENV := .uv
UV ?= $(UV_ENV)/bin/uv
UV_INSTALLED := $(UV_ENV)/.installed-$(UV_VERSION)
# On Linux with an NVIDIA driver (nvidia-smi), TensorFlow also gets NVIDIA's CUDA libraries from PyPI
# (the `gpu` extra, see README). `make GPU= ...` leaves them out, `make GPU=1 ...` forces them.
GPU ?= $(if $(and $(filter Linux,$(shell uname -s)),$(shell command -v nvidia-smi 2>/dev/null)),1)
EXTRAS := --extra dev $(if $(GPU),--extra gpu)
INSTALLED := $(BIN)/.installed$(if $(GPU),-gpu)
# The fetch stage's output: a link to the photos (conf/base/catalog_fetch.yml, image_source).
IMAGE_SOURCE := data/01_raw/image_source
# Debian's Chromium: Playwright's own browser download needs the internet.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export UV_PYTHON_DOWNLOADS := never
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help check-python check-node install run train verify test test-fast viz lint format web mlflow-ui benchmark-data benchmark-train benchmark-web benchmark-scale

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

check-python: # Python 3.11, with its venv module
	@python='$(PYTHON)'; \
	if [ -z "$$python" ] || ! "$$python" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then \
	  found=$$("$$python" --version 2>&1) || found="nothing that runs"; \
	  echo "This project needs Python 3.11 with its venv module; found: $$found ($${python:-no python3.11 or python3 on PATH})."; \
	  echo "Install it (Debian/Ubuntu: sudo apt install python3.11 python3.11-venv; macOS: brew install python@3.11;"; \
	  echo "anywhere: pyenv install 3.11 or uv python install 3.11), then run make again, or make PYTHON=/path/to/python3.11."; \
	  exit 1; fi

check-node: # Node.js 18 or newer, with npm
	@version=$$(node --version 2>/dev/null || true); major=$${version#v}; major=$${major%%.*}; \
	if [ "$${major:-0}" -lt 18 ] 2>/dev/null || [ -z "$$version" ] || ! command -v npm >/dev/null; then \
	  echo "The web page's TF.js needs Node.js 18 or newer with npm; found: node $${version:-none}, npm $$(npm --version 2>/dev/null || echo none)."; \
	  echo "Install it (Debian/Ubuntu: sudo apt install nodejs npm; macOS: brew install node; or https://nodejs.org), then run make again."; \
	  exit 1; fi

$(UV_INSTALLED): | check-python
	$(PYTHON) -m venv --clear $(UV_ENV)
	$(UV_ENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	touch $@

$(INSTALLED): pyproject.toml uv.lock | check-python $(if $(filter $(UV_ENV)/bin/uv,$(UV)),$(UV_INSTALLED))
	$(UV) sync --frozen $(EXTRAS) --python $(PYTHON)
	rm -f $(BIN)/.installed*
	touch $@

web/vendor/.installed: web/package.json web/package-lock.json web/wasm/resize.ts | check-node
	cd web && npm ci --no-audit --no-fund && npm run build
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

install: check-python check-node $(INSTALLED) web/vendor/.installed ## Python env in .venv (from uv.lock) and the page's TF.js (from package-lock.json)

run: install ## The main job: `dvc repro` (fetch, ingest, preprocess, train and evaluate every variant, champion, export)
	@# DVC stops at a link whose photos are gone (a moved ../shared, a deleted download): drop it,
	@# and the fetch stage resolves ingest.source anew.
	@if [ -L $(IMAGE_SOURCE) ] && [ ! -e $(IMAGE_SOURCE) ]; then rm -v $(IMAGE_SOURCE); fi
	dvc repro

train: install ## Only the training pipeline, all variants: kedro run --pipelines train
	kedro run --pipelines train

verify: install ## A fresh clone of HEAD runs `dvc repro --force`: per stage, does it match dvc.lock byte for byte?
	python benchmarks/verify.py

test: install $(CHROMIUM) ## Lint, then the whole test suite (what CI runs)
	ruff check .
	ruff format --check .
	pytest

test-fast: install $(CHROMIUM) ## Lint, then every test not marked slow (for daily work)
	ruff check .
	ruff format --check .
	pytest -m "not slow"

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

viz: install ## The pipelines in a browser: kedro-viz on http://127.0.0.1:4141
	@# Reads the pipelines and the catalog only: no dataset is loaded, no hook runs (no MLflow run
	@# starts), nothing is written. The default browser opens on the page where there is one (a
	@# headless machine prints the address); Ctrl-C stops it.
	kedro viz run --host 127.0.0.1 --port 4141

benchmark-data: install ## Time ingest + preprocess on the full shared zip
	python benchmarks/data_pipeline.py

benchmark-scale: install ## Time and peak memory of each stage at 1x, 2x and 4x the photos
	python benchmarks/scale.py

benchmark-train: install ## Accuracy and speed of every variant on the full data, and a full dvc repro
	python benchmarks/training.py

benchmark-web: install $(CHROMIUM) ## Per-frame inference latency in headless Chromium
	python benchmarks/web_latency.py
