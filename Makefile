# avsa: two commands on a fresh machine (only python3 and make needed).
#   make demo   install, generate the synthetic 360° dataset, pre-train and evaluate at demo scale
#   make test   install and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The stamp depends on pyproject.toml: a second run installs nothing unless the pinned list changed.
STAMP  := $(VENV)/.installed

.PHONY: install test demo data clean-demo lint bench

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

lint: $(STAMP)
	$(PY) -m ruff check . || echo "(install ruff to lint: $(PY) -m pip install ruff)"

clean-demo:
	rm -rf results/demo checkpoints/demo data/synthetic/.decoded
