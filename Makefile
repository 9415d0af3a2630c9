# Two commands on a fresh clone:  `make app`  and  `make test`.
# Each creates .venv if missing and installs what it needs; a second run skips installing
# when the requirement files did not change (stamp files inside .venv).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501
export HF_HUB_OFFLINE ?= 1

.PHONY: app test lab bench checkpoints student lint install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.runtime-stamp: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $@

$(VENV)/.dev-stamp: requirements-dev.txt $(VENV)/.runtime-stamp
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime-stamp
install-dev: $(VENV)/.dev-stamp

app: $(VENV)/.runtime-stamp  ## the browser app, on this computer only (HOST=0.0.0.0 to project it in class)
	$(BIN)/streamlit run streamlit_app/app.py --server.address $(if $(filter command line,$(origin HOST)),$(HOST),localhost) --server.port $(PORT) --browser.gatherUsageStats false

lab: $(VENV)/.runtime-stamp  ## JupyterLab on notebooks/
	$(BIN)/jupyter lab notebooks/

test: lint  ## ruff, then the whole test suite (≤ 15 min on a 2-core laptop)
	$(BIN)/python -m pytest -q --durations=10 tests $(PYTEST_ARGS)

lint: $(VENV)/.dev-stamp  ## ruff on the library, the tests, the app and the benchmarks
	$(BIN)/ruff check course_lib tests streamlit_app benchmarks

bench: $(VENV)/.dev-stamp  ## speed comparisons against the reference implementations
	$(BIN)/python benchmarks/vit_speed.py

checkpoints: $(VENV)/.runtime-stamp  ## retrain every bundled checkpoint (see data/checkpoints/*.json)
	$(BIN)/python -m course_lib.train --all-bundled

student: $(VENV)/.dev-stamp  ## write the student release of the homework to ./student_release
	$(BIN)/python -m course_lib.grading release --out student_release
