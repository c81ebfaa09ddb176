"""Shared pieces of the server tests: a tiny real generator, images, and real servers.

Servers run under uvicorn on an ephemeral 127.0.0.1 port in a thread of the test process (the
SIGTERM test starts its own process); clients are real HTTP clients (httpx).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from img2img.nn import create_generator


def tiny_checkpoint(path: Path) -> Path:
    """Published-style weights of a real U-Net with batch norm and dropout (ngf 4)."""
    torch.manual_seed(0)
    net = create_generator("unet_128", in_channels=3, out_channels=3, ngf=4, norm="batch",
                           dropout=True)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    torch.save(net.state_dict(), path)
    return path


def photo(path: Path, h: int, w: int, seed: int, mode: str = "RGB") -> Path:
    """A smooth random picture (a real photo's statistics matter little here)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 4), dtype=np.uint8)
    image = Image.fromarray(small, "RGBA").resize((w, h), Image.BICUBIC)
    image.convert(mode).save(path)
    return path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("serve-model") / "g.pth")


@dataclass
class Running:
    """A server running in a thread: its base URL, application state and uvicorn server."""

    url: str
    state: object
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(timeout=30)


def start_server(settings) -> Running:  # noqa: ANN001
    """Serve ``settings`` under uvicorn on a free 127.0.0.1 port, in a thread."""
    import uvicorn

    from img2img.serve.app import create_app

    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Running(f"http://127.0.0.1:{port}", app.state.img2img, server, thread)


@pytest.fixture(scope="module")
def served(checkpoint: Path) -> Iterator[Running]:
    """The model served with a wide batching window, so requests sent together share a batch."""
    from img2img.serve.settings import ServeSettings

    running = start_server(ServeSettings(models=(f"tiny={checkpoint}",), device="cpu",
                                         batch_window_ms=150, max_pixels=4 * 128 * 128))
    yield running
    running.stop()
