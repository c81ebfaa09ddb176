# img2img serve on the CPU:
#   docker build -t img2img-serve .
#   docker run --rm -p 8000:8000 -e IMG2IMG_TOKEN=change-me -v "$PWD/weights:/weights" \
#       img2img-serve --model horse2zebra
# The server listens on 0.0.0.0 inside the container, so it requires a token (IMG2IMG_TOKEN).
# For a GPU, start from an NVIDIA CUDA runtime image with Python 3.11 and install the CUDA
# torch wheel instead of the CPU one (see the documentation's "Serve" page), then run with
# `docker run --gpus all ... --device cuda`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    IMG2IMG_WEIGHTS=/weights

# the CPU build of torch (a fraction of the CUDA build's size)
RUN pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu

WORKDIR /app
COPY pyproject.toml README.md ./
COPY img2img ./img2img
RUN pip install '.[serve]'

RUN useradd --create-home --uid 1000 img2img && mkdir -p /weights && chown img2img /weights
USER img2img

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["img2img", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--model", "horse2zebra"]
