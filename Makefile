# The two commands: `make run` opens the app on a demo project, `make test` runs every check.
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

test: $(STAMP)
	$(VENV)/bin/ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n 2 --dist loadfile -q

clean:
	rm -rf $(VENV) build *.egg-info
