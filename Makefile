# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE := src/selfsim/sample/stdlib_docs.jsonl
DEMO := demo-collection

.PHONY: install demo test benchmarks clean

$(BIN)/selfsim: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/selfsim

install: $(BIN)/selfsim

demo: install
	rm -rf $(DEMO)
	$(BIN)/selfsim index $(DEMO) $(SAMPLE)
	$(BIN)/selfsim search $(DEMO) "read a text file one line at a time" -k 5
	$(BIN)/selfsim search $(DEMO) "send an email" -k 5 --filter "kind=function"

test: install
	$(BIN)/python -m pytest -q

benchmarks: install
	$(BIN)/python benchmarks/retrieval.py
	$(BIN)/python benchmarks/index_overhead.py
	$(BIN)/python benchmarks/search_latency.py
	$(BIN)/python benchmarks/few_labels.py

clean:
	rm -rf $(DEMO) build dist src/*.egg-info .pytest_cache
