# rnnkit: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: setup demo test test-core lint bench

setup:
	$(PIP) install -q "torch==2.13.0" || $(PIP) install -q torch
	# seqeval's sdist needs setuptools_scm < 9 in the build environment
	$(PIP) install -q "setuptools_scm<9" wheel
	$(PIP) install -q --no-build-isolation "seqeval>=1.2"
	$(PIP) install -q -e ".[jax,torch,dev,serve,recipes]"

demo: setup
	$(PYTHON) recipes/main_job.py

# Everything under TensorFlow (the default backend), then the multi-backend core
# tests (tests/multibackend) again under JAX and PyTorch.
test: setup
	$(PYTHON) -m ruff check rnnkit recipes benchmarks tests
	KERAS_BACKEND=tensorflow $(PYTHON) -m pytest -q -p no:cacheprovider -n 2 tests
	KERAS_BACKEND=jax $(PYTHON) -m pytest -q -p no:cacheprovider -n 2 tests/multibackend
	KERAS_BACKEND=torch $(PYTHON) -m pytest -q -p no:cacheprovider -n 2 tests/multibackend

lint:
	$(PYTHON) -m ruff check rnnkit recipes benchmarks tests
	$(PYTHON) -m ruff format --check rnnkit recipes benchmarks tests

bench:
	$(PYTHON) benchmarks/rnn.py
