"""The server's options, checked once: :class:`ServeSettings`."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_HOST", "ServeSettings", "is_loopback", "model_names"]

#: where the server listens unless told otherwise: this machine only
DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def model_names(models: tuple[str, ...]) -> dict[str, str]:
    """``{API name: model}`` of the ``--model`` values.

    ``NAME=MODEL`` names a model; otherwise a published name is its own name, and a path is
    named by its file's stem or its folder's name (``runs/facades`` -> ``facades``).

    Raises:
        ValueError: no model, an empty name, or two models of one name.
    """
    if not models:
        raise ValueError("--model: expected at least one model to serve")
    named: dict[str, str] = {}
    for value in models:
        name, sep, model = value.partition("=")
        if not sep:
            model = value
            path = Path(value)
            name = path.stem if path.suffix else path.name or value
        if not name or not model:
            raise ValueError(f"--model: {value!r} is not valid; expected MODEL or NAME=MODEL")
        if name in named:
            raise ValueError(
                f"--model: two models are named {name!r} ({named[name]} and {model}); "
                "name one with NAME=MODEL"
            )
        named[name] = model
    return named


@dataclass(frozen=True)
class ServeSettings:
    """What ``img2img serve`` was asked for (the command's flags, without dashes).

    Attributes:
        models: the ``--model`` values (``MODEL`` or ``NAME=MODEL``).
        host: the address to listen on.
        port: the port (0: any free one).
        token: the bearer token every request but the health checks must carry; required
            unless ``host`` is a loopback address.
        cors: origins allowed to call the API from a browser (none: CORS off).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        batch_size: most images per forward pass.
        batch_window_ms: how long the first request of a batch waits for others.
        queue_size: most requests per model waiting or in translation; more get 503.
        max_upload_mb: largest request body, in MiB; larger ones get 413.
        max_pixels: most pixels one forward pass holds; larger images go through in tiles.
        max_image_pixels: most pixels an upload may have (by its header); larger ones get 413.
        weights_dir: where published models are downloaded.
        threads: threads decoding uploads and encoding outputs.
        workers: server processes, each with its own copy of every model.
    """

    models: tuple[str, ...]
    host: str = DEFAULT_HOST
    port: int = 8000
    token: str | None = None
    cors: tuple[str, ...] = ()
    device: str = "auto"
    precision: str = "fp32"
    batch_size: int = 8
    batch_window_ms: float = 10.0
    queue_size: int = 64
    max_upload_mb: float = 20.0
    max_pixels: int = 2048 * 2048
    max_image_pixels: int = 2 * 89_478_485
    weights_dir: Path | None = None
    threads: int = 2
    workers: int = 1

    def check(self) -> None:
        """Fail naming the flag whose value is not valid.

        Raises:
            ValueError: a value out of range, or a non-loopback ``host`` without a token.
        """
        model_names(self.models)
        for flag, value, least in (
            ("--batch-size", self.batch_size, 1), ("--queue-size", self.queue_size, 1),
            ("--threads", self.threads, 1), ("--workers", self.workers, 1),
            ("--port", self.port, 0), ("--max-pixels", self.max_pixels, 0),
            ("--max-image-pixels", self.max_image_pixels, 0),
        ):
            if value < least:
                raise ValueError(f"{flag}: {value} is not valid; expected a number >= {least}")
        if self.port > 65535:
            raise ValueError(f"--port: {self.port} is not valid; expected 0..65535")
        if not self.max_upload_mb > 0:
            raise ValueError(f"--max-upload-mb: {self.max_upload_mb} is not valid; expected > 0")
        if not 0 <= self.batch_window_ms <= 1000:
            raise ValueError(
                f"--batch-window-ms: {self.batch_window_ms} is not valid; expected 0..1000"
            )
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"--host {self.host}: other machines can reach it, so every request must carry "
                "a token: pass --token (or set IMG2IMG_TOKEN), or keep the default --host "
                f"{DEFAULT_HOST}"
            )

    @property
    def max_upload_bytes(self) -> int:
        """:attr:`max_upload_mb` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    def to_environ(self) -> dict[str, str]:
        """These settings as environment variables, for worker processes
        (:meth:`from_environ`); the token travels as ``IMG2IMG_TOKEN``."""
        import dataclasses
        import json

        values = {k: v for k, v in dataclasses.asdict(self).items() if k != "token"}
        values["weights_dir"] = None if self.weights_dir is None else str(self.weights_dir)
        env = {ENVIRON_KEY: json.dumps(values)}
        if self.token:
            env["IMG2IMG_TOKEN"] = self.token
        return env

    @classmethod
    def from_environ(cls) -> ServeSettings:
        """The settings :meth:`to_environ` put in this process's environment."""
        import json

        values = json.loads(os.environ[ENVIRON_KEY])
        values["models"] = tuple(values["models"])
        values["cors"] = tuple(values["cors"])
        if values["weights_dir"] is not None:
            values["weights_dir"] = Path(values["weights_dir"])
        return cls(**values, token=os.environ.get("IMG2IMG_TOKEN") or None)


#: the environment variable carrying the settings to worker processes
ENVIRON_KEY = "IMG2IMG_SERVE_SETTINGS"
