PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install img2img with the dev extras

test: install  ## run the test suite
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check img2img tests bench

demo: install  ## train pix2pix on the bundled sample, translate its test images
	$(PY) -m img2img.demo

bench: install  ## measure matmul peak, training MFU and translate throughput
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) runs out *.egg-info
