"""The token off loopback, CORS only when asked, a bounded queue, and clients that go away."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from img2img.cli.app import app as cli
from img2img.serve.settings import ServeSettings, is_loopback
from tests.serve.conftest import photo, start_server


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_other_hosts_need_a_token(host):
    assert not is_loopback(host)
    with pytest.raises(ValueError, match=rf"--host {host}: .*pass --token \(or set "
                                         "IMG2IMG_TOKEN\\)"):
        ServeSettings(models=("m.pth",), host=host).check()
    ServeSettings(models=("m.pth",), host=host, token="s3cret").check()
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        ServeSettings(models=("m.pth",), host=loopback).check()


def test_the_command_refuses_another_host_without_a_token(checkpoint, monkeypatch):
    monkeypatch.delenv("IMG2IMG_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--model", str(checkpoint), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--token" in result.output


def test_model_names_clash_and_bad_values_name_the_flag():
    with pytest.raises(ValueError, match="two models are named 'facades'"):
        ServeSettings(models=("runs/facades", "other/facades")).check()
    with pytest.raises(ValueError, match="--queue-size: 0 is not valid"):
        ServeSettings(models=("m.pth",), queue_size=0).check()


def test_token_is_checked_on_every_request_but_the_health_checks(checkpoint, tmp_path):
    running = start_server(ServeSettings(models=(str(checkpoint),), device="cpu",
                                         token="s3cret", cors=("https://app.example",)))
    try:
        image = photo(tmp_path / "x.png", 40, 40, seed=0).read_bytes()
        url = f"{running.url}/v1/translate"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            reply = httpx.post(url, content=image, headers=headers)
            assert reply.status_code == 401, headers
            assert "Bearer" in reply.json()["error"]
            assert reply.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{running.url}/v1/models").status_code == 401
        assert httpx.get(f"{running.url}/openapi.json").status_code == 401
        for public in ("/healthz", "/readyz", "/", "/static/app.js"):
            assert httpx.get(f"{running.url}{public}").status_code == 200, public
        good = httpx.post(url, content=image, headers={"Authorization": "Bearer s3cret"},
                          timeout=60)
        assert good.status_code == 200
        cors = httpx.options(url, headers={"Origin": "https://app.example",
                                           "Access-Control-Request-Method": "POST"})
        assert cors.headers["access-control-allow-origin"] == "https://app.example"
        other = httpx.options(url, headers={"Origin": "https://evil.example",
                                            "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers
    finally:
        running.stop()


def test_cors_is_off_unless_asked(served):
    reply = httpx.get(f"{served.url}/healthz", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in reply.headers


def test_a_full_queue_answers_503_and_a_client_that_leaves_frees_its_slot(checkpoint,
                                                                         tmp_path: Path):
    running = start_server(ServeSettings(models=(str(checkpoint),), device="cpu",
                                         queue_size=1, batch_window_ms=1000, batch_size=8))
    try:
        image = photo(tmp_path / "x.png", 40, 40, seed=0).read_bytes()
        url = f"{running.url}/v1/translate"
        queue = running.state.queues["g"]
        first: dict[str, object] = {}
        thread = threading.Thread(target=lambda: first.update(
            reply=httpx.post(url, content=image, timeout=60)))
        thread.start()
        while queue.held == 0:
            time.sleep(0.01)
        full = httpx.post(url, content=image, timeout=60)
        assert full.status_code == 503
        assert full.headers["retry-after"] == "1"
        assert "--queue-size" in full.json()["error"]
        thread.join()
        assert first["reply"].status_code == 200  # type: ignore[attr-defined]

        with pytest.raises(httpx.ReadTimeout):  # waits in the window, then hangs up
            httpx.post(url, content=image, timeout=0.3)
        deadline = time.monotonic() + 5
        while queue.held and time.monotonic() < deadline:
            time.sleep(0.02)
        assert queue.held == 0, "the client that left still holds its slot"
        assert httpx.post(url, content=image, timeout=60).status_code == 200
    finally:
        running.stop()
