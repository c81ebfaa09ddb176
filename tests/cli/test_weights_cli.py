"""``img2img weights list|download|info`` and ``translate --model NAME`` through a local mirror."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app
from img2img.data.video import VideoReader
from img2img.hub.weights import get_published
from tests.conftest import write_clip

runner = CliRunner()


def _words(text: str) -> str:
    return " ".join(text.split())


def test_list_shows_every_model_and_what_is_downloaded(tmp_path):
    rows = json.loads(runner.invoke(app, ["weights", "list", "--json", "--weights-dir",
                                          str(tmp_path)]).output)
    assert len(rows) == 30 and not any(r["path"] for r in rows)
    (tmp_path / "cyclegan").mkdir()
    (tmp_path / "cyclegan" / "style_monet.pth").write_bytes(b"x" * 2_000_000)
    result = runner.invoke(app, ["weights", "list", "--weights-dir", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if x.strip().startswith("style_monet"))
    assert "2.0 MB" in line and "style_monet.pth" in line
    assert "pix2pix/sat2map" in result.output and "manual download" in result.output


def test_download_info_and_translate_by_name(mirror, horse2zebra_bytes, tmp_path):
    mirror.publish(get_published("horse2zebra"), horse2zebra_bytes)
    weights = tmp_path / "weights"
    result = runner.invoke(app, ["weights", "download", "horse2zebra", "--weights-dir",
                                 str(weights)])
    assert result.exit_code == 0, result.output
    assert (weights / "cyclegan" / "horse2zebra.pth").read_bytes() == horse2zebra_bytes
    assert "sha256" in result.output
    assert f"downloading cyclegan/horse2zebra: {len(horse2zebra_bytes) / 1e6:.1f} MB" in \
        result.stderr

    info = json.loads(runner.invoke(app, ["weights", "info", "horse2zebra", "--json",
                                          "--weights-dir", str(weights)]).output)
    assert info["path"] == str(weights / "cyclegan" / "horse2zebra.pth")
    assert info["download_url"].startswith(mirror.url) and info["recorded_sha256"]
    found = json.loads(runner.invoke(app, ["weights", "info", info["path"], "--json"]).output)
    assert (found["family"], found["network"], found["ngf"]) == ("cyclegan", "resnet_9blocks", 64)
    assert found["legacy_statistics"] == 46
    described = json.loads(runner.invoke(app, ["info", info["path"], "--json"]).output)
    assert described["kind"] == "generator weights" and described["family"] == "cyclegan"
    assert described["architecture"].startswith("netG resnet_9blocks, in_channels 3")
    assert described["parameters"] == {"G": found["parameters"]}
    by_name = json.loads(runner.invoke(app, ["info", "horse2zebra", "--weights-dir",
                                             str(weights), "--json"]).output)
    assert by_name["kind"].startswith("published model horse2zebra: horse photos")
    assert by_name["downloaded"] == info["path"] and by_name["parameters"] == {
        "G": found["parameters"]}
    assert by_name["architecture"] == ("netG resnet_9blocks, in_channels 3, out_channels 3, "
                                       "ngf 64, norm instance")

    Image.new("RGB", (40, 28), (200, 120, 30)).save(tmp_path / "horse.png")
    requests = len(mirror.requests)
    result = runner.invoke(app, ["translate", "--model", "horse2zebra", "--weights-dir",
                                 str(weights), str(tmp_path / "horse.png"),
                                 str(tmp_path / "zebra.png"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert len(mirror.requests) == requests  # already downloaded
    with Image.open(tmp_path / "zebra.png") as out:
        assert out.size == (40, 28)

    clip = write_clip(tmp_path / "clip.mp4", frames=3, h=20, w=28)
    result = runner.invoke(app, ["translate", "--model", "horse2zebra", "--weights-dir",
                                 str(weights), str(clip), str(tmp_path / "zebras.mp4"),
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "1 video(s), 3 frames, written without sound" in _words(result.output)
    with VideoReader(tmp_path / "zebras.mp4") as reader:
        assert len(list(reader)) == 3 and (reader.info.width, reader.info.height) == (28, 20)


def test_translate_downloads_a_name_on_first_use(mirror, horse2zebra_bytes, tmp_path):
    mirror.publish(get_published("zebra2horse"), horse2zebra_bytes)
    Image.new("RGB", (32, 32), (20, 20, 20)).save(tmp_path / "zebra.png")
    result = runner.invoke(app, ["translate", "--model", "zebra2horse", str(tmp_path / "zebra.png"),
                                 str(tmp_path / "out"), "--device", "cpu"],
                           env={"IMG2IMG_WEIGHTS": str(tmp_path / "w")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w" / "cyclegan" / "zebra2horse.pth").is_file()
    assert (tmp_path / "out" / "zebra.png").is_file()
    size = f"{len(horse2zebra_bytes) / 1e6:.1f} MB"
    assert f"downloading zebra2horse: {size}" in result.stderr  # said before it starts


def test_info_describes_a_name_without_downloading_it(mirror, tmp_path):
    result = runner.invoke(app, ["info", "zebra2horse", "--weights-dir", str(tmp_path / "w"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.output)
    assert described["family"] == "cyclegan" and described["downloaded"].startswith("no ")
    assert described["source"].endswith("/cyclegan/pretrained_models/zebra2horse.pth")
    assert "parameters" not in described and not mirror.requests
    assert not (tmp_path / "w").exists()
    typo = runner.invoke(app, ["info", "zebra2hors"])
    assert typo.exit_code == 2 and "did you mean zebra2horse?" in _words(typo.output)


def test_failures_name_the_model_and_the_way_out(tmp_path):
    result = runner.invoke(app, ["weights", "download", "label2city", "sat2map", "horse2cat",
                                 "--weights-dir", str(tmp_path)])
    text = _words(result.output)
    assert result.exit_code == 1
    assert "failed label2city" in text and "Google Drive" in text
    assert "use cyclegan/sat2map or pix2pix/sat2map" in text
    assert "'horse2cat' is not a published model" in text
    Image.new("RGB", (8, 8)).save(tmp_path / "in.png")
    result = runner.invoke(app, ["translate", "--model", "horse2cat", str(tmp_path / "in.png"),
                                 str(tmp_path / "out.png")])
    assert result.exit_code == 2 and "not a published model name" in _words(result.output)


def test_translate_reports_a_failed_download_by_its_url(mirror, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "in.png")
    result = runner.invoke(app, ["translate", "--model", "zebra2horse", str(tmp_path / "in.png"),
                                 str(tmp_path / "out.png"), "--device", "cpu"],
                           env={"IMG2IMG_WEIGHTS": str(tmp_path / "w")})
    assert result.exit_code == 2, result.output  # one line, no traceback
    text = _words(result.output)
    assert "/mirror/cyclegan/pretrained_models/zebra2horse.pth" in text and "HTTP 404" in text
    assert not (tmp_path / "out.png").exists()


def test_models_published_in_one_archive_download_once(mirror, tmp_path):
    import io

    import torch

    from tests.archives import make_tar

    def state(value: float) -> bytes:
        buffer = io.BytesIO()
        torch.save({"w": torch.full((2, 2), value)}, buffer)
        return buffer.getvalue()

    members = [("checkpoints/horse2zebra_cut_pretrained/latest_net_G.pth", state(1.0)),
               ("checkpoints/horse2zebra_cut_pretrained/latest_net_D.pth", state(2.0)),
               ("checkpoints/cat2dog_fastcut_pretrained/latest_net_G.pth", state(3.0))]
    path = mirror.publish(get_published("horse2zebra_cut"),
                          make_tar(io.BytesIO(), members, mode="w").getvalue())
    weights = tmp_path / "w"
    result = runner.invoke(app, ["weights", "download", "horse2zebra_cut", "cat2dog_fastcut",
                                 "--weights-dir", str(weights)])
    assert result.exit_code == 0, result.output
    assert [r.path for r in mirror.requests] == [path]
    assert (weights / "cut" / "cat2dog_fastcut.pth").read_bytes() == members[2][1]
    assert sorted(p.name for p in (weights / "cut").iterdir()) == [
        "cat2dog_fastcut.pth", "cat2dog_fastcut.pth.sha256", "horse2zebra_cut.pth",
        "horse2zebra_cut.pth.sha256"]

    result = runner.invoke(app, ["weights", "info", "cat2dog_fastcut", "--weights-dir",
                                 str(weights)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "archive_folder: cat2dog_fastcut_pretrained" in _words(result.output)
    assert "cat photos -> dog photos (AFHQ), FastCUT" in result.output

    result = runner.invoke(app, ["weights", "download", "cat2dog_cut", "--weights-dir",
                                 str(weights)])
    assert result.exit_code == 1 and "has no folder 'cat2dog_cut_pretrained'" in _words(
        result.output)


def test_piped_output_keeps_long_paths_and_urls_whole(tmp_path, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "weights"
    (deep / "cyclegan").mkdir(parents=True)
    (deep / "cyclegan" / "horse2zebra.pth").write_bytes(b"x" * 1000)
    listed = runner.invoke(app, ["weights", "list", "--weights-dir", str(deep)])  # not a tty
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if x.strip().startswith("horse2zebra"))
    assert str(deep / "cyclegan" / "horse2zebra.pth") in line and "…" not in listed.output
    info = runner.invoke(app, ["weights", "info", "horse2zebra", "--weights-dir", str(deep)])
    url = get_published("horse2zebra").url
    assert any(x.rstrip().endswith(url) for x in info.output.splitlines()), info.output


def test_piped_log_lines_are_whole_and_unpadded(capsys):
    import logging

    from img2img.cli.app import _setup_logging

    _setup_logging(logging.WARNING)
    url = "http://example.org/" + "a-long-path/" * 12 + "file.pth"
    logging.getLogger("img2img.test").warning("cannot fetch %s", url)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"WARNING  cannot fetch {url}"]
