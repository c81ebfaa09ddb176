"""Fixtures of the fault suite: a tiny dataset and one uninterrupted reference run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.faults import processes

#: steps of every training run of the suite (8 images, batch 4: 2 steps an epoch)
TOTAL_STEPS = 32


@pytest.fixture(scope="session")
def reference_run(gray2color: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run every interrupted one must equal, bit for bit."""
    runs = tmp_path_factory.mktemp("reference")
    result = processes.run("train", "pix2pix", "--data", gray2color, "--runs-dir", runs,
                           "--name", "ref", "--max-steps", TOTAL_STEPS, *processes.TINY_RUN,
                           cwd=runs)
    assert result.returncode == 0, result.stderr
    return runs / "ref"


@pytest.fixture
def copy_of_reference(reference_run: Path, tmp_path: Path) -> Path:
    """A run directory of its own holding the reference run's files."""
    run = tmp_path / "runs" / "ref"
    shutil.copytree(reference_run, run)
    return run
