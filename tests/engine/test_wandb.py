"""Weights & Biases tracking, offline: the run files wandb writes hold what was logged."""

from __future__ import annotations

import builtins
import json
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from img2img.cli import app
from img2img.engine.wandb_run import check_wandb

runner = CliRunner()
TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--input-nc", "1",
        "--load-size", "36", "--crop-size", "32", "--max-dataset-size", "8", "--batch-size", "4",
        "--num-workers", "0", "--device", "cpu"]


def _records(path: Path) -> list:
    """The protobuf records of a ``.wandb`` file: a 7-byte header, then a log of 32 KiB
    blocks whose chunks (crc32, length, type) join into records."""
    from wandb.proto import wandb_internal_pb2

    data, pos, pending, records = path.read_bytes(), 7, b"", []
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            break
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _history(path: Path) -> list[dict[str, str]]:
    return [{"/".join(item.nested_key) or item.key: item.value_json
             for item in r.history.item}
            for r in _records(path) if r.WhichOneof("record_type") == "history"]


def test_wandb_offline_logs_scalars_grids_and_config_and_a_resume_continues_the_run(
        gray2color, tmp_path, monkeypatch):
    for name in ("DIR", "CONFIG_DIR", "CACHE_DIR", "DATA_DIR", "ARTIFACT_DIR"):
        monkeypatch.setenv(f"WANDB_{name}", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = tmp_path / "runs" / "wb"
    first = runner.invoke(app, [
        "train", "pix2pix", "--data", str(gray2color), "--runs-dir", str(tmp_path / "runs"),
        "--name", "wb", *TINY, "--max-steps", "4", "--log-every", "2", "--sample-every", "4",
        "--wandb", "--wandb-project", "shoes", "--wandb-name", "first try"])
    assert first.exit_code == 0, first.output
    identity = json.loads((run / "wandb.json").read_text())
    assert identity["project"] == "shoes" and identity["id"]
    resumed = runner.invoke(app, ["train", "--resume", str(run), "--max-steps", "6"])
    assert resumed.exit_code == 0, resumed.output
    files = sorted((tmp_path / "wandb" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert [f.name for f in files] == [f"run-{identity['id']}.wandb"] * 2  # one wandb run

    history = _history(files[0]) + _history(files[1])
    scalars = [h for h in history if "lr" in h]
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert [int(h["step"]) for h in scalars] == [r["step"] for r in records] == [2, 4, 6]
    for h, r in zip(scalars, records, strict=True):
        assert float(h["loss/G_L1"]) == pytest.approx(r["G_L1"])
        assert float(h["lr"]) == pytest.approx(r["lr"]) and "images_per_s" in h
        assert int(h["epoch"]) == r["epoch"]
    grids = [h for h in history if "samples/_type" in h]
    assert [int(h["step"]) for h in grids] == [4, 6]  # every 4 steps, and the last one
    assert grids[0]["samples/_type"] == '"image-file"'
    assert list(files[0].parent.glob("files/media/images/samples_*.png"))

    runs = [r.run for r in _records(files[0]) if r.WhichOneof("record_type") == "run"]
    assert runs[0].project == "shoes" and runs[0].display_name == "first try"
    config = {u.key: json.loads(u.value_json) for u in runs[0].config.update}
    assert config["family"] == "pix2pix" and config["train"]["wandb"] is True


def test_missing_wandb_is_named(monkeypatch):
    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(ValueError, match=r"--wandb: wandb is not installed; install it with: "
                                         r"pip install 'img2img-gan\[wandb\]'"):
        check_wandb()
