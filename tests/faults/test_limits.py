"""Values past what the machine or the libraries accept are refused in one line, before training."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from img2img.config import MAX_SEED, ConfigError, TrainConfig
from img2img.engine.memory import available_memory
from img2img.prep.check import check_run_data
from tests.conftest import tiny_pix2pixhd_config
from tests.faults import processes

pytestmark = pytest.mark.slow


def _one_error(result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return " ".join(result.stderr.split())


def _train(data: Path, tmp_path: Path, *options: str):
    return processes.run("train", "pix2pix", "--data", data, "--runs-dir", tmp_path / "runs",
                         *processes.TINY_RUN, "--max-steps", "2", *options, cwd=tmp_path,
                         timeout=60)


def test_networks_larger_than_the_memory_are_refused_naming_the_option(gray2color, tmp_path):
    message = _one_error(_train(gray2color, tmp_path, "--ngf", "100000"))
    assert "--ngf 100000" in message and "available memory" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("seed", ["100000000000000000000", "-1"])
def test_a_seed_out_of_range_is_refused(gray2color, tmp_path, seed):
    message = _one_error(_train(gray2color, tmp_path, "--seed", seed))
    assert f"seed: {seed} is not valid; expected an integer from 0 to {MAX_SEED}" in message


def test_the_largest_seed_is_accepted():
    assert TrainConfig(seed=MAX_SEED).seed == MAX_SEED
    with pytest.raises(ConfigError, match="seed: 1e\\+20 is not valid"):
        TrainConfig(seed=1e20)  # type: ignore[arg-type]


def test_available_memory_is_known_here():
    import torch

    assert available_memory(torch.device("cpu")) > 0


def _bad_label(city: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of ``city`` whose fourth training label map holds id 200."""
    import shutil

    data = tmp_path / "city"
    shutil.copytree(city, data)
    path = sorted((data / "train_label").glob("*.png"))[3]
    ids = np.array(Image.open(path))
    ids[5:9, 5:9] = 200
    Image.fromarray(ids).save(path)
    return data, path


def test_a_label_id_out_of_range_fails_the_check_train_runs(synthetic_city, tmp_path):
    data, bad = _bad_label(synthetic_city, tmp_path)
    result = processes.run(
        "train", "pix2pixhd", "--data", data, "--label-nc", "35", "--ngf", "4", "--ndf", "4",
        "--n-blocks-global", "1", "--no-vgg-loss", "--load-size", "128", "--crop-size", "64",
        "--device", "cpu", "--max-steps", "4", "--batch-size", "1", "--num-workers", "2",
        "--runs-dir", tmp_path / "runs", cwd=tmp_path, timeout=60)
    message = _one_error(result)
    assert f"{bad}: label values 200 are outside 0..34 (--label-nc 35)" in message
    assert "no problems found" not in message


def test_the_label_range_check_is_fast(synthetic_city):
    config = tiny_pix2pixhd_config(synthetic_city, label_nc=35)
    started = time.perf_counter()
    report = check_run_data(config)
    assert report.ok and time.perf_counter() - started < 5
