# Two commands do everything on a fresh machine (Python >= 3.11 and pip):
#   make demo   set up, then run the main job on the embedded model, offline
#   make test   set up (Chromium included), then lint and run the whole test suite
# and one for the workbench:
#   make lab    set up, then open JupyterLab on the tutorials, bound to 127.0.0.1
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lab setup lint

setup:
	@bash tools/setup.sh

demo: setup
	$(PY) -m dspex_lab demo

lint: setup
	$(VENV)/bin/ruff check dspex_lab tests benchmarks tools data
	$(VENV)/bin/ruff format --check dspex_lab tests benchmarks tools data
	$(VENV)/bin/mypy

test: lint
	@bash tools/setup.sh --browser
	$(VENV)/bin/pytest

lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)
