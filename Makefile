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

DEMO_DATA := datasets/edges2photos_mini
DEMO_STEPS ?= 1500
demo: install  ## train pix2pix on the bundled sample for a few minutes, translate its test images
	@set -e; stamp=$$(date +%Y%m%d-%H%M%S); img2img=$(VENV)/bin/img2img; \
	$$img2img train pix2pix --data $(DEMO_DATA) --name $$stamp --runs-dir runs/demo \
	  --netG unet_128 --ngf 32 --ndf 32 --load-size 142 --crop-size 128 --batch-size 4 \
	  --max-steps $(DEMO_STEPS) --sample-every 250 --checkpoint-every 500 --device cpu; \
	$$img2img translate --model runs/demo/$$stamp --side A --size 128 $(DEMO_DATA)/test out/demo/$$stamp --device cpu; \
	echo; echo "run directory (config, metrics, sample grids, checkpoint): runs/demo/$$stamp"; \
	echo "translated held-out images:                           out/demo/$$stamp"

bench: install  ## measure matmul peak, training MFU and translate throughput
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) runs out *.egg-info
