# Two commands set up and run everything on a fresh machine:
#   make demo   - create .venv, install, run the demo on the generated (synthetic) dataset
#   make test   - create .venv, install, lint and run the whole test suite
#   make demo-adapt - learning without labels between two generated (synthetic) domains
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-adapt test lint venv clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check fastreid projects tools tests

test: $(STAMP) lint
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(PY) tools/demo.py --output demo_output

demo-adapt: $(STAMP)
	$(PY) tools/demo_adapt.py --output demo_adapt_output

clean:
	rm -rf $(VENV) demo_output demo_adapt_output logs
