# One task runner for the README, CI and developers. `make help` lists the targets.
PYTHON ?= python3

.PHONY: help run install test test-heavy lint bench notebooks samples

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run:  ## the README's first command: install and open JupyterLab on the bundled samples
	$(PYTHON) -m pip install -e . && $(PYTHON) -m mavtools lab

test:  ## the README's second command: install the test dependencies and run every test
	$(PYTHON) -m pip install -e '.[test]' && $(PYTHON) -m pytest

test-heavy:  ## the long trials behind the `heavy` marker (see docs/reliability.md)
	$(PYTHON) -m pytest -m heavy -p no:cacheprovider tests

lint:  ## ruff and mypy
	$(PYTHON) -m ruff check mavtools tests benchmarks scripts
	$(PYTHON) -m ruff format --check mavtools tests benchmarks scripts
	$(PYTHON) -m mypy

bench:  ## every benchmark, printing the figures the issues ask for
	$(PYTHON) benchmarks/bench_client.py
	$(PYTHON) benchmarks/bench_v2.py
	$(PYTHON) benchmarks/bench_cache.py
	$(PYTHON) benchmarks/bench_analysis.py
	$(PYTHON) benchmarks/bench_widgets.py
	$(PYTHON) benchmarks/bench_whatif.py
	$(PYTHON) benchmarks/bench_sizing.py
	$(PYTHON) benchmarks/bench_queue.py
	$(PYTHON) benchmarks/bench_browser.py  # JupyterLab + Debian chromium: felt latency
	$(PYTHON) benchmarks/bench_segments.py

notebooks:  ## re-execute the notebooks so committed outputs match what nbval compares
	$(PYTHON) scripts/execute_notebooks.py

samples:  ## regenerate data/samples from the seeded simulation
	$(PYTHON) scripts/make_samples.py
