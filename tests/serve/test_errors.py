"""Bad requests get a 4xx with a JSON message naming the problem; the server keeps serving."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from img2img.data.io import DEFAULT_MAX_IMAGE_PIXELS, set_max_image_pixels
from img2img.serve.settings import ServeSettings
from tests.serve.conftest import Running, photo, start_server


def _png(h: int = 40, w: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


PNG = _png()
MULTIPART = "multipart/form-data; boundary=xyz"

#: (what, method, path, query, request options, status, words the message must hold)
CORPUS = [
    ("not an image", "POST", "/v1/translate", {}, {"content": b"hello, world"}, 400,
     "not an image file"),
    ("zero bytes, raw", "POST", "/v1/translate", {}, {"content": b""}, 400, "0 bytes"),
    ("zero bytes, multipart", "POST", "/v1/translate", {}, {"files": {"image": ("x.png", b"")}},
     400, "0 bytes"),
    ("truncated PNG", "POST", "/v1/translate", {}, {"content": PNG[: len(PNG) // 2]}, 400,
     "upload 'image'"),
    ("truncated JPEG", "POST", "/v1/translate", {}, {"content": _jpeg()[:300]}, 400,
     "upload 'image'"),
    ("PNG header only", "POST", "/v1/translate", {}, {"content": PNG[:8]}, 400,
     "upload 'image'"),
    ("over --max-upload-mb", "POST", "/v1/translate", {}, {"content": b"\0" * 70_000}, 413,
     "--max-upload-mb"),
    ("over --max-image-pixels", "POST", "/v1/translate", {}, {"content": _png(120, 120)}, 413,
     "--max-image-pixels"),
    ("multipart without an image part", "POST", "/v1/translate", {},
     {"files": {"photo": ("x.png", PNG)}}, 400, "no part 'image'"),
    ("a part the model does not take", "POST", "/v1/translate", {},
     {"files": {"image": ("x.png", PNG), "instance": ("i.png", PNG)}}, 400, "'instance'"),
    ("multipart without a boundary", "POST", "/v1/translate", {},
     {"content": PNG, "headers": {"content-type": "multipart/form-data"}}, 400, "boundary"),
    ("malformed multipart", "POST", "/v1/translate", {},
     {"content": b"--xyz\r\nno headers end", "headers": {"content-type": MULTIPART}}, 400,
     "the multipart body is malformed"),
    ("unknown model", "POST", "/v1/translate", {"model": "zebra"}, {"content": PNG}, 404,
     "'zebra' is not served here; expected one of: tiny"),
    ("unknown option", "POST", "/v1/translate", {"colour": "red"}, {"content": PNG}, 400,
     "colour: not an option"),
    ("another family's option", "POST", "/v1/translate", {"direction": "BtoA"},
     {"content": PNG}, 400, "direction: not an option of model 'tiny'"),
    ("unknown format", "POST", "/v1/translate", {"format": "gif"}, {"content": PNG}, 422,
     "format: 'gif' is not valid; expected one of: png, jpeg, webp"),
    ("unknown side", "POST", "/v1/translate", {"side": "C"}, {"content": PNG}, 422,
     "side: 'C' is not valid"),
    ("seed not a number", "POST", "/v1/translate", {"seed": "abc"}, {"content": PNG}, 422,
     "seed: "),
    ("a path as the name", "POST", "/v1/translate", {"name": "../../etc/passwd"},
     {"content": PNG}, 400, "expected a file name"),
    ("AB image one column wide", "POST", "/v1/translate", {"side": "A"},
     {"content": _png(40, 1)}, 422, "cannot be split"),
    ("unknown path", "GET", "/v1/nothing", {}, {}, 404, "no such page"),
    ("wrong method", "GET", "/v1/translate", {}, {}, 405, "Method Not Allowed"),
]


@pytest.fixture(scope="module")
def strict(checkpoint: Path) -> Iterator[Running]:
    """A server with small limits: 64 KiB uploads, 100 x 100 pixels."""
    running = start_server(ServeSettings(models=(f"tiny={checkpoint}",), device="cpu",
                                         max_upload_mb=64 / 1024, max_image_pixels=100 * 100))
    yield running
    running.stop()
    set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15


@pytest.mark.parametrize(("what", "method", "path", "query", "options", "status", "words"),
                         CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_request_gets_a_json_4xx_and_the_server_keeps_serving(
    strict, what, method, path, query, options, status, words
):
    reply = httpx.request(method, f"{strict.url}{path}", params=query, timeout=60, **options)
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["status"] == status
    assert words in body["error"]
    assert "Traceback" not in reply.text
    good = httpx.post(f"{strict.url}/v1/translate", content=PNG, timeout=60)
    assert good.status_code == 200, good.text
    assert Image.open(io.BytesIO(good.content)).size == (48, 40)


def test_rgba_and_gray_uploads_are_converted_as_translate_does(strict, tmp_path):
    for mode in ("RGBA", "L", "P"):
        path = photo(tmp_path / f"{mode}.png", 40, 48, seed=1, mode=mode)
        reply = httpx.post(f"{strict.url}/v1/translate", content=path.read_bytes(), timeout=60)
        assert reply.status_code == 200, (mode, reply.text)
        assert Image.open(io.BytesIO(reply.content)).mode == "RGB"


def test_models_health_and_readiness(strict, checkpoint):
    models = httpx.get(f"{strict.url}/v1/models").json()["models"]
    assert [m["name"] for m in models] == ["tiny"]
    tiny = models[0]
    assert tiny["family"] == "pix2pix"
    assert tiny["network"] == "unet_128"
    assert tiny["networks"] == ["G"]
    assert tiny["sizes"]["multiple"] == 128
    assert tiny["sizes"]["max_image_pixels"] == 100 * 100
    assert {"seed", "eval", "no_dropout", "side", "format"} <= set(tiny["options"])
    assert "direction" not in tiny["options"]
    assert tiny["source"] == "g.pth"  # no folder of the server's is shown
    assert httpx.get(f"{strict.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{strict.url}/readyz").json() == {"status": "ready", "models": ["tiny"]}
    docs = httpx.get(f"{strict.url}/openapi.json").json()
    assert "/v1/translate" in docs["paths"]


def test_bad_requests_among_good_ones_disturb_none(served):
    from concurrent.futures import ThreadPoolExecutor

    url = f"{served.url}/v1/translate"
    alone = httpx.post(url, content=PNG, params={"name": "p.png"}, timeout=60).content
    bodies = [PNG, b"junk", PNG, PNG[:100], PNG, b"", PNG, _png(40, 1)]
    with ThreadPoolExecutor(len(bodies)) as pool:
        replies = list(pool.map(lambda body: httpx.post(
            url, content=body, params={"name": "p.png"}, timeout=60), bodies))
    assert [r.status_code for r in replies] == [200, 400, 200, 400, 200, 400, 200, 200]
    assert all(r.content == alone for r, body in zip(replies, bodies, strict=True)
               if body == PNG)
