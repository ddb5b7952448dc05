# Two entry points (see README.md). Both set up .venv first (tools/setup_env.sh
# reuses what is already installed and the cached mmcv wheel).
PY := .venv/bin/python

.PHONY: env demo test test-fast clean

env:
	bash tools/setup_env.sh

demo: env
	$(PY) tools/demo.py

# the whole suite in a random order (modules shuffled, and the tests inside
# each module; the seed is printed, --random-order-seed=N repeats an order);
# MTLNAS_TEST_THREADS=1 runs it at one torch thread
test: env
	$(PY) -m pytest tests --random-order --durations=10

# the suite without the tests marked slow
test-fast: env
	$(PY) -m pytest tests -q -m "not slow"

clean:
	rm -rf work_dirs data .pytest_cache
