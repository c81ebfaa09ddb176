"""``img2img serve``: trained models behind an HTTP API and a page in the browser.

* :mod:`~img2img.serve.settings`: the server's options and the checks they must pass.
* :mod:`~img2img.serve.registry`: the served models, each loaded once, by name.
* :mod:`~img2img.serve.uploads`: an upload (multipart or raw body) read into memory, within limits.
* :mod:`~img2img.serve.batching`: per-model queues that translate requests arriving together
  in one batch.
* :mod:`~img2img.serve.errors`: JSON errors (status and message naming the problem).
* :mod:`~img2img.serve.app`: the FastAPI application.
* :mod:`~img2img.serve.run`: uvicorn, with graceful shutdown.

FastAPI and uvicorn are an optional extra (``pip install 'img2img-gan[serve]'``); importing
this package imports neither.
"""
