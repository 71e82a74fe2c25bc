# The two commands: `make run` opens the app on a demo project, `make test` runs every check
# (lint, types, tests). `make lint` runs the first two alone; `make bench` the quick benchmarks.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d" " -f1)

.PHONY: run test lint bench clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml Makefile | $(VENV)/bin/python
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[test,bench,postgres]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(VENV)/bin/longtail demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m mypy

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n 2 --dist loadfile -q

# The quick figures (a few minutes); each script prints JSON. The full-size runs: see each
# script's docstring (bench/io.py without arguments is LVIS-sized).
bench: $(STAMP)
	$(PY) bench/io.py --images 2000 --annotations 100000
	QT_QPA_PLATFORM=offscreen $(PY) bench/stages.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/canvas.py

clean:
	rm -rf $(VENV) build *.egg-info
