# harken — everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data

.PHONY: install demo web messages test test-fast lint heads heads-e5 heads-complaint demo-data bench clean

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

# The web workspace over the demo's database (run `make demo` first; it prints the sign-in).
web: $(STAMP)
	$(BIN)/harken --config harken-demo/config.yaml web

# The web workspace's labels: extract them from the templates, merge them into each language's
# catalog (harken/web/locale/LANG/LC_MESSAGES/messages.po: translate the new ones there), compile.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o harken/web/locale/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i harken/web/locale/messages.pot -d harken/web/locale --no-location
	$(BIN)/pybabel compile -d harken/web/locale

# One pytest worker per core (pytest-xdist): most tests wait on subprocesses, sockets and
# databases, so two workers on two cores take about half the time. Each worker starts its own
# throwaway PostgreSQL cluster (tests/conftest.py).
test: $(STAMP)
	$(BIN)/pytest -n auto

test-fast: $(STAMP)
	$(BIN)/pytest -n auto -m 'not slow'

lint: $(STAMP)
	$(BIN)/ruff check harken tests scripts bench
	$(BIN)/ruff format --check harken tests scripts bench

# Rebuild the shipped classifier from the labelled data in ../shared/data: MiniLM's low-rank
# adapter and heads (harken/data/models/minilm/MODEL_CARD.md; about 80 minutes on 2 cores), and
# the e5 heads for Japanese (harken/data/models/e5/MODEL_CARD.md; about 1 hour, mostly embedding).
heads: $(STAMP)
	$(BIN)/python -m harken.classify.training.finetune --data $(DATA) --out harken/data/models/minilm

heads-e5: $(STAMP)
	$(BIN)/python -m harken.classify.training.train --model e5 --data $(DATA) \
		--sentiment-sources brand,xlmt,chabsa --out harken/data/models/e5

# Re-fit only MiniLM's complaint head on its shipped adapter (about 6 minutes on 2 cores, mostly
# embedding; seconds once cached), after a change to the complaint rows
# (harken/classify/training/data.py, contrast.py): `python -m harken.classify.training.refit`.
heads-complaint: $(STAMP)
	$(BIN)/python -m harken.classify.training.refit --model minilm --head complaint --data $(DATA)

demo-data: $(STAMP)
	$(BIN)/python scripts/make_demo_data.py

# Pipeline benchmarks (latency through `harken run`, workers end to end, ingest and reports at
# scale): one table at the end; `bench/run_all.py --full` for the issue's full set.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) harken-demo .pytest_cache .cache
