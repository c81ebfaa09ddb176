PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo bench bench-avx2 lint docs clean

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

docs: install  ## build the documentation site into site/ (mkdocs, Material theme)
	$(VENV)/bin/mkdocs build --strict --site-dir site

DEMO_DATA := datasets/colorize_mini
DEMO_EPOCHS ?= 12
DEMO_DEVICE ?= cpu
DEMO_SEED ?= 0
# half the cores (at least one): one thread per run gives the same figures on any machine
DEMO_THREADS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n / 2 > 0 ? n / 2 : 1 )))
# load 144, crop 128: random crops, so the generator learns the image border at every offset
DEMO_MODEL := --netG unet_128 --ngf 16 --norm instance --no-dropout --netD pixel --ndf 16 \
  --input-nc 1 --load-size 144 --crop-size 128 --batch-size 4 --lr 0.001
demo: install  ## train pix2pix to colourise gray photos for a few minutes, score its held-out outputs
	@set -e; started=$$(date +%s); stamp=$$(date +%Y%m%d-%H%M%S); img2img=$(VENV)/bin/img2img; \
	out=out/demo/$$stamp; export OMP_NUM_THREADS=$(DEMO_THREADS); \
	$$img2img train pix2pix --data $(DEMO_DATA) --name $$stamp --runs-dir runs/demo $(DEMO_MODEL) \
	  --n-epochs $(DEMO_EPOCHS) --n-epochs-decay $(DEMO_EPOCHS) --seed $(DEMO_SEED) \
	  --checkpoint-every 1000 --device $(DEMO_DEVICE); \
	$$img2img translate --model runs/demo/$$stamp --side A $(DEMO_DATA)/test $$out/test \
	  --device $(DEMO_DEVICE); \
	echo; $(PY) datasets/demo_report.py --data $(DEMO_DATA) --outputs $$out/test \
	  --sheet $$out/contact_sheet.png --run runs/demo/$$stamp --started $$started \
	  --threads $(DEMO_THREADS); \
	echo "run directory (config, metrics, sample grids, checkpoint): runs/demo/$$stamp"

bench: install  ## measure matmul peak, training MFU, translate speed; append to bench/RESULTS.md
	$(PY) bench/run.py --results bench/RESULTS.md

bench-avx2: install  ## the same with the AVX2 kernels, on a CPU that has AVX-512
	ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
	  $(PY) bench/run.py --results bench/RESULTS.md

clean:
	rm -rf $(VENV) runs out site *.egg-info
