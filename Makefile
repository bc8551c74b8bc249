# rnnkit: `make demo` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: setup demo test test-core lint bench

setup:
	$(PIP) install -q "torch==2.13.0" || $(PIP) install -q torch
	$(PIP) install -q -e ".[jax,torch,dev]"

demo: setup
	$(PYTHON) recipes/demo_sentiment.py

# Everything under TensorFlow (the default backend), then the multi-backend core
# tests (tests/multibackend) again under JAX and PyTorch.
test: setup
	$(PYTHON) -m ruff check rnnkit recipes benchmarks tests
	KERAS_BACKEND=tensorflow $(PYTHON) -m pytest -q -p no:cacheprovider tests
	KERAS_BACKEND=jax $(PYTHON) -m pytest -q -p no:cacheprovider tests/multibackend
	KERAS_BACKEND=torch $(PYTHON) -m pytest -q -p no:cacheprovider tests/multibackend

lint:
	$(PYTHON) -m ruff check rnnkit recipes benchmarks tests

bench:
	$(PYTHON) benchmarks/rnn.py
