"""The FastAPI application: :func:`create_app`.

Routes: ``POST /v1/translate``, ``GET /v1/models``, ``GET /healthz``, ``GET /readyz``, the
page at ``/`` (with its files under ``/static``) and FastAPI's own ``/docs``. Every error is
JSON (:mod:`img2img.serve.errors`). Off loopback every request but the health checks and the
page's own files must carry ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from img2img.serve.batching import BatchQueue, QueueFull
from img2img.serve.errors import ApiError, error_body
from img2img.serve.registry import Registry, ServedModel
from img2img.serve.settings import ServeSettings
from img2img.serve.uploads import Upload, parse_upload, read_body

__all__ = ["FORMATS", "ServerState", "create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
#: output formats: ``?format=`` -> (file suffix, media type)
FORMATS = {"png": (".png", "image/png"), "jpeg": (".jpg", "image/jpeg"),
           "webp": (".webp", "image/webp")}
#: paths answered without a token: the health checks, and the page's own files (they hold
#: no data; the page asks for the token before it calls the API)
PUBLIC_PATHS = ("/healthz", "/readyz", "/", "/favicon.ico")
HEALTH_PATHS = ("/healthz", "/readyz")
#: seconds a client is told to wait when a queue is full or the server is stopping
RETRY_AFTER = "1"
#: how often a waiting request checks that its client is still there (seconds)
DISCONNECT_POLL = 0.05


@dataclass
class ServerState:
    """What the routes share: the settings, the models, their queues, and the pools."""

    settings: ServeSettings
    registry: Registry
    queues: dict[str, BatchQueue] = field(default_factory=dict)
    draining: bool = False
    compute: ThreadPoolExecutor | None = None
    io: ThreadPoolExecutor | None = None


class Gate:
    """ASGI middleware: 503 while the server stops (the health checks still answer), and the
    bearer token when one is set."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state
        token = state.settings.token
        self.token = None if not token else f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        refusal = None
        if self.state.draining and path not in HEALTH_PATHS:
            refusal = JSONResponse(error_body(503, "the server is shutting down"), 503,
                                   headers={"Retry-After": RETRY_AFTER, "Connection": "close"})
        elif self.token is not None and not _public(path):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.token):
                what = "a wrong token" if given else "no token"
                refusal = JSONResponse(
                    error_body(401, f"Authorization: {what}; expected 'Authorization: Bearer "
                                    "TOKEN' with the server's --token"), 401,
                    headers={"WWW-Authenticate": "Bearer"})
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith("/static/")


def create_app(settings: ServeSettings, registry: Registry | None = None) -> FastAPI:
    """The application serving ``settings.models`` (loaded now, unless ``registry`` is given).

    Raises:
        ValueError: a setting is not valid (:meth:`ServeSettings.check`).
        OSError, ValueError: a model cannot be loaded (as ``translate`` would report it).
    """
    settings.check()
    state = ServerState(settings, registry if registry is not None else Registry(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from img2img.infer.translate import IO_NICENESS, thread_pool

        state.compute = ThreadPoolExecutor(1, thread_name_prefix="img2img-serve-compute")
        niceness = IO_NICENESS if state.registry.device.type == "cpu" else 0
        state.io = thread_pool(settings.threads, "img2img-serve-io", niceness)
        workers = []
        for name in state.registry.models:
            queue = BatchQueue(name, state.compute, window=settings.batch_window_ms / 1000,
                               max_batch=settings.batch_size, size=settings.queue_size,
                               max_pixels=settings.max_pixels)
            state.queues[name] = queue
            workers.append(asyncio.create_task(queue.run(), name=f"img2img-queue-{name}"))
        log.info("serving %s", ", ".join(state.registry.models))
        try:
            yield
        finally:
            for worker in workers:
                worker.cancel()
            for queue in state.queues.values():
                log.info("%s", queue.summary())
            await asyncio.gather(*workers, return_exceptions=True)
            state.compute.shutdown(wait=True)
            state.io.shutdown(wait=True)

    app = FastAPI(title="img2img", summary="Image-to-image translation with trained GANs.",
                  lifespan=lifespan)
    app.state.img2img = state
    _errors(app)
    _routes(app, state)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Gate, state=state)
    if settings.cors:  # added last: outermost, so preflight requests need no token
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    return app


def app_from_environ() -> FastAPI:
    """The application of the settings in the environment (each ``--workers`` process)."""
    return create_app(ServeSettings.from_environ())


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "body"))
            value = error.get("input")
            problems.append(f"{where}: {error.get('msg', 'not valid')} (got {value!r})")
        return JSONResponse(error_body(422, "; ".join(problems)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"{request.url.path}: no such page; the API is under /v1 (see /docs)"
        return JSONResponse(error_body(exc.status_code, message), exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(error_body(500, f"internal error: {type(exc).__name__}"), 500)


def _check_query(request: Request, served: ServedModel) -> None:
    taken = ["model", *served.options]
    for key in request.query_params:
        if key not in taken:
            raise ApiError(400, f"{key}: not an option of model {served.name!r}; it takes: "
                                f"{', '.join(taken)}")


def _model(state: ServerState, name: str | None) -> ServedModel:
    try:
        return state.registry.get(name)
    except KeyError as exc:
        raise ApiError(404, exc.args[0]) from None


def _decode(served: ServedModel, model: Any, upload: Upload, side: str | None,
            max_pixels: int) -> Any:
    """The upload's streams decoded and prepared as ``translate`` prepares a file."""
    from img2img.data.io import ImageReadError, ImageTooLargeError
    from img2img.infer.batch import prepare
    from img2img.infer.plan import Job

    job = Job(Path(upload.name), Path(upload.name), upload.name)
    try:
        decoded = {s.name: s.read(upload.name, compact=True, data=upload.parts[s.name])
                   for s in model.input_streams if s.name in upload.parts}
        return prepare(job, model, decoded, served.resizing, side, max_pixels or None)
    except ImageTooLargeError as exc:
        raise ApiError(413, f"upload {exc.reason}".replace("pass --max-image-pixels",
                       "start the server with --max-image-pixels")) from None
    except ImageReadError as exc:
        raise ApiError(400, f"upload {upload.name!r}: {exc.reason}") from None
    except ValueError as exc:  # an AB image that cannot be halved ...
        raise ApiError(422, f"upload {upload.name!r}: {exc}") from None


def _encode(served: ServedModel, upload: Upload, output: Any, suffix: str) -> bytes:
    """The output encoded as ``translate`` writes it (16 bits for 16-bit inputs of a model
    trained on 16-bit images, in formats that hold them)."""
    from img2img.data.image_write import encode_image
    from img2img.data.io import read_header

    first = next(iter(upload.parts.values()))
    bits = served.writing.bits_for(suffix, lambda: read_header(upload.name, data=first).bits)
    return encode_image(output, suffix, bits=bits)


async def _wait(request: Request, queue: BatchQueue, work: Any) -> Any:
    """The work's result; None when the client went away first (its slot is then freed)."""
    while True:
        done, _ = await asyncio.wait({work.future}, timeout=DISCONNECT_POLL)
        if done:
            return work.future.result()
        if await request.is_disconnected():
            if queue.withdraw(work):
                log.info("%s: client went away; its image left the queue", queue.name)
            return None


def _routes(app: FastAPI, state: ServerState) -> None:
    settings = state.settings

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz", summary="The process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The models are loaded and requests are taken.")
    async def readyz() -> JSONResponse:
        if state.draining:
            return JSONResponse({"status": "shutting down"}, 503,
                                headers={"Retry-After": RETRY_AFTER})
        return JSONResponse({"status": "ready", "models": list(state.registry.models)})

    @app.get("/v1/models", summary="Each served model: family, networks, sizes and options.")
    async def models() -> dict[str, Any]:
        return {"models": [m.describe() for m in state.registry.models.values()]}

    @app.post(
        "/v1/translate", summary="Translate one image (multipart 'image' part or raw body).",
        response_class=Response,
        responses={200: {"content": {media: {} for _, media in FORMATS.values()}}},
    )
    async def translate(
        request: Request,
        model: str | None = Query(None, description="A served model's name (GET /v1/models)."),
        format: str = Query("png", description="png, jpeg or webp."),
        side: str | None = Query(None, description="The input is a side-by-side AB image: "
                                                   "translate this half (A or B)."),
        seed: int | None = Query(None, description="Seed of the per-image dropout masks."),
        eval_mode: bool = Query(False, alias="eval",
                                description="Running statistics and no dropout."),
        no_dropout: bool = Query(False, description="Paper test mode with dropout off."),
        direction: str | None = Query(None, description="CycleGAN: AtoB or BtoA."),
        style: str | None = Query(None, description="pix2pixHD with instance features: "
                                                    "the K-th style, or 'random'."),
        name: str | None = Query(None, description="The image's file name (seeds dropout "
                                                   "as in translate); multipart gives it."),
    ) -> Response:
        served = _model(state, model)
        _check_query(request, served)
        if format not in FORMATS:
            raise ApiError(422, f"format: {format!r} is not valid; expected one of: "
                                f"{', '.join(FORMATS)}")
        if side is not None and side not in ("A", "B"):
            raise ApiError(422, f"side: {side!r} is not valid; expected A or B")
        options = {"test_mode": "eval" if eval_mode else None,
                   "dropout": False if no_dropout else None, "seed": seed,
                   "direction": direction, "style": style}
        try:
            translator = await run_in_threadpool(served.translator, options)
        except ValueError as exc:
            raise ApiError(422, str(exc).replace("--", "")) from None
        try:
            body = await read_body(request.stream(), request.headers.get("content-length"),
                                   settings.max_upload_bytes)
        except ClientDisconnect:  # nobody is left to answer
            return Response(status_code=499)
        streams = translator.model.input_streams
        upload = parse_upload(request.headers.get("content-type"), body,
                              [s.name for s in streams], name)
        del body
        loop = asyncio.get_running_loop()
        item = await loop.run_in_executor(state.io, _decode, served, translator.model, upload,
                                          side, settings.max_pixels)
        queue = state.queues[served.name]
        try:
            work = queue.submit(translator, item)
        except QueueFull:
            raise ApiError(503, f"model {served.name!r} has {queue.size} images queued "
                                "(--queue-size); retry shortly",
                           {"Retry-After": RETRY_AFTER}) from None
        del item
        output = await _wait(request, queue, work)
        if output is None:
            return Response(status_code=499)  # nobody reads it
        if isinstance(output, str):
            status = 503 if "out of memory" in output else 500
            raise ApiError(status, f"upload {upload.name!r}: {output}")
        suffix, media = FORMATS[format]
        data = await loop.run_in_executor(state.io, _encode, served, upload, output, suffix)
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.name).stem) or "image"
        return Response(data, media_type=media, headers={
            "Content-Disposition": f'inline; filename="{stem}{suffix}"'})
