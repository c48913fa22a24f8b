# harken — everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data

.PHONY: install demo test test-fast lint heads demo-data clean

# CPU PyTorch goes in first, from the pinned wheel, so that installing the project does not
# pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/harken demo

test: $(STAMP)
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m 'not slow'

lint: $(STAMP)
	$(BIN)/ruff check harken tests scripts bench
	$(BIN)/ruff format --check harken tests scripts bench

# Rebuild the classifier heads from the labelled data in ../shared/data (about 10 minutes).
heads: $(STAMP)
	$(BIN)/python -m harken.classify.train --data $(DATA) --out harken/data/models/minilm

demo-data: $(STAMP)
	$(BIN)/python scripts/make_demo_data.py

clean:
	rm -rf $(VENV) harken-demo .pytest_cache .cache
