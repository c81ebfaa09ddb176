"""``img2img serve --model NAME|RUN_DIR|CHECKPOINT ...``: models behind an HTTP API and a page."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from img2img.cli import options as o
from img2img.cli.errors import fail, user_errors
from img2img.cli.translate import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_PIXELS
from img2img.config import PRECISIONS

EXAMPLES = """\
[bold]Examples[/]

  img2img serve --model horse2zebra --model runs/facades --port 8000

  curl -F image=@horse.jpg 'http://127.0.0.1:8000/v1/translate?model=horse2zebra' -o zebra.png

  img2img serve --model zebra=runs/horse2zebra_cyclegan --host 0.0.0.0 --token "$(openssl rand -hex 16)"

  IMG2IMG_TOKEN=secret img2img serve --model runs/facades --host 0.0.0.0 --cors https://app.example.com

  img2img serve --model runs/facades --device cuda --batch-size 16 --workers 2
"""


def serve(
    model: Annotated[list[str], typer.Option("--model", "-m", help="A model to serve, as 'translate --model' takes it (published name, run folder, checkpoint, .safetensors, .onnx), or NAME=MODEL to name it in the API; repeat for several.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on; any other than loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free one).")] = 8000,
    token: Annotated[str | None, typer.Option("--token", envvar="IMG2IMG_TOKEN", show_envvar=True, help="Every request but /healthz and /readyz must carry 'Authorization: Bearer TOKEN'.")] = None,
    cors: Annotated[list[str] | None, typer.Option("--cors", help="An origin whose pages may call the API (repeat for several); none: CORS off.")] = None,
    device: o.InferDevice = "auto",
    precision: Annotated[str, typer.Option("--precision", help=f"{', '.join(PRECISIONS)}.")] = "fp32",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Most images translated in one forward pass.")] = 8,
    batch_window_ms: Annotated[float, typer.Option("--batch-window-ms", help="How long the first request of a batch waits for others, in milliseconds.")] = 10.0,
    queue_size: Annotated[int, typer.Option("--queue-size", help="Most requests per model waiting or in translation; more are answered 503 with Retry-After.")] = 64,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Largest request body in MiB; larger ones are answered 413.")] = 20.0,
    max_pixels: Annotated[int, typer.Option("--max-pixels", help="Most pixels one forward pass may hold; larger images are translated in overlapping tiles, as translate does. 0: no limit.")] = DEFAULT_MAX_PIXELS,
    max_image_pixels: Annotated[int, typer.Option("--max-image-pixels", help="Most pixels an upload may have (read from its header); larger ones are answered 413. 0: no limit.")] = DEFAULT_MAX_IMAGE_PIXELS,
    threads: Annotated[int, typer.Option("--threads", help="Threads decoding uploads and encoding outputs.")] = 2,
    workers: Annotated[int, typer.Option("--workers", help="Server processes; each loads its own copy of every model.")] = 1,
    weights_dir: Annotated[Path | None, typer.Option("--weights-dir", help="Where published models are downloaded (default: $IMG2IMG_WEIGHTS, else ./weights).")] = None,
) -> None:
    """Serve models over HTTP: POST /v1/translate, GET /v1/models, a page at /, docs at /docs.

    Each model is loaded once at start-up. Requests that arrive together are translated in one
    batch; outputs equal 'img2img translate' of the same file with the same options. Listens
    on 127.0.0.1 unless --host says otherwise (then --token is required). SIGTERM lets the
    requests in flight finish, answers 503 to new ones, then exits.
    """
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        from img2img.extras import install_hint

        raise fail(install_hint("serve", exc.name or "fastapi / uvicorn")) from exc
    from img2img.serve.run import serve as run
    from img2img.serve.settings import ServeSettings

    # a server's own lines (models loaded, shutting down, batches run) go with the access log
    logging.getLogger("img2img.serve").setLevel(logging.INFO)

    with user_errors():
        from img2img.config import check_choice, check_device

        check_device(device)
        check_choice("--precision", precision, PRECISIONS)
        settings = ServeSettings(
            models=tuple(model), host=host, port=port, token=token, cors=tuple(cors or ()),
            device=device, precision=precision, batch_size=batch_size,
            batch_window_ms=batch_window_ms, queue_size=queue_size, max_upload_mb=max_upload_mb,
            max_pixels=max_pixels, max_image_pixels=max_image_pixels, weights_dir=weights_dir,
            threads=threads, workers=workers,
        )
        run(settings)
