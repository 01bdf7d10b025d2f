# One-command entry points. `make demo` and `make test` install on first use.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PY311 ?= $(shell command -v python3.11 2>/dev/null || echo python3)
PY310 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.10.*/bin/python3.10) $(shell command -v python3.10 2>/dev/null))
VENV := .venv
LAVA_VENV := .venv-lava

.PHONY: install demo test bench clean

install: $(VENV)/.installed $(LAVA_VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

$(LAVA_VENV)/.installed:
	@if [ -z "$(PY310)" ]; then echo "no Python 3.10 found: the Lava backend will be unavailable"; exit 0; fi; \
	test -x $(LAVA_VENV)/bin/python || $(PY310) -m venv $(LAVA_VENV); \
	$(LAVA_VENV)/bin/pip install -q "lava-nc==0.10.0" "numpy<2" "scipy<1.16" "scikit-learn<1.7" && touch $@

demo: install
	$(VENV)/bin/snnc demo

test: install
	$(VENV)/bin/python -m pytest

# Quick forms of the simulator benchmarks: ratios within this one run, printed; nothing is asserted.
bench: install
	$(VENV)/bin/python benchmarks/sim_throughput.py --quick
	$(VENV)/bin/python benchmarks/sim_scaling.py --quick --plot build/sim_scaling_quick.png

clean:
	rm -rf $(VENV) $(LAVA_VENV) build runs
