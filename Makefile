# avsa: two commands on a fresh machine (only python3 and make needed).
#   make demo   install, generate the synthetic 360° dataset, pre-train and evaluate at demo scale
#   make test   install and run the test suite
#   make gpu-check       on a CUDA machine: the prepared GPU check (tools/gpu_check.py, ~7 min; docs/performance.md)
#   make gpu-check-dry   the same at toy size on the CPU (~1 min), to prove the script before a GPU is spent on it
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The stamp depends on pyproject.toml: a second run installs nothing unless the pinned list changed.
STAMP  := $(VENV)/.installed

.PHONY: install test demo data clean-demo lint bench gpu-check gpu-check-dry gpu-wheels

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	print('\n'.join(p['dependencies'] + p['optional-dependencies']['test']))" > $(VENV)/requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q -r $(VENV)/requirements.txt
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	PYTHONUNBUFFERED=1 $(PY) tools/reproduce_tables.py --suite demo

gpu-check: $(STAMP)
	PYTHONUNBUFFERED=1 $(PY) tools/gpu_check.py --out results/gpu-check

gpu-check-dry: $(STAMP)
	PYTHONUNBUFFERED=1 $(PY) tools/gpu_check.py --device cpu --quick --out results/gpu-check-dry

# Wheels for a GPU machine without network or PyAV (Python 3.12, x86-64): into .whl/, see tools/gpu_check.sh.
gpu-wheels:
	sh tools/fetch_gpu_wheels.sh

lint: $(STAMP)
	$(PY) -m ruff check . || echo "(install ruff to lint: $(PY) -m pip install ruff)"

clean-demo:
	rm -rf results/demo checkpoints/demo data/synthetic/.decoded
