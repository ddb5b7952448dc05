# Two entry points (see README.md). Both set up .venv first (tools/setup_env.sh
# reuses what is already installed and the cached mmcv wheel).
PY := .venv/bin/python

.PHONY: env demo test clean

env:
	bash tools/setup_env.sh

demo: env
	$(PY) tools/demo.py

test: env
	$(PY) -m pytest tests -q

clean:
	rm -rf work_dirs data .pytest_cache
