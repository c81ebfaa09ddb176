"""Shell completion of option values: networks, published models, runs, datasets, choices."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from img2img import completion
from img2img.cli import app
from img2img.nn import list_discriminators, list_generators

runner = CliRunner()


def _complete(words: str) -> list[str]:
    """What bash completion offers after ``words`` (the last word being typed)."""
    parts = words.split(" ")
    result = runner.invoke(app, [], prog_name="img2img", env={
        "_IMG2IMG_COMPLETE": "complete_bash", "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1)})
    return result.output.split()


def test_network_flags_complete_from_the_registry():
    assert _complete("img2img train pix2pix --netG unet") == [
        n for n in list_generators("pix2pix") if n.startswith("unet")]
    assert set(_complete("img2img train cyclegan --netD ")) == set(list_discriminators("cyclegan"))
    assert _complete("img2img train pix2pixhd --netG lo") == ["local"]
    assert _complete("img2img evaluate --direction B") == ["BtoA"]


def test_model_completes_published_names_runs_and_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "facades_pix2pix").mkdir(parents=True)
    (tmp_path / "runs" / "facades_pix2pix" / "config.json").write_text("{}")
    (tmp_path / "runs" / "not_a_run").mkdir()
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "g.onnx").write_bytes(b"")
    (tmp_path / "exports" / "notes.txt").write_text("")
    assert completion.models("horse2zebra_") == ["horse2zebra_cut", "horse2zebra_fastcut"]
    assert completion.models("runs/") == ["runs/facades_pix2pix", "runs/facades_pix2pix/",
                                          "runs/not_a_run/"]
    assert completion.models("exports/") == ["exports/g.onnx"]
    assert "style_monet" in completion.models("")
    assert _complete("img2img translate --model style_m") == ["style_monet"]
    assert _complete("img2img weights download edges2") == ["edges2shoes"]
    assert _complete("img2img info runs/fa") == ["runs/facades_pix2pix", "runs/facades_pix2pix/"]
    assert _complete("img2img export horse2zebra_f") == ["horse2zebra_fastcut"]
    assert _complete("img2img train cyclegan --init-from horse2zebra_f") == ["horse2zebra_fastcut"]
    assert "runs/facades_pix2pix" in _complete("img2img train pix2pix --init-from runs/")
    assert _complete("img2img report runs/") == ["runs/facades_pix2pix", "runs/facades_pix2pix/",
                                                 "runs/not_a_run/"]


def test_data_completes_published_and_installed_datasets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMG2IMG_DATASETS", str(tmp_path / "datasets"))
    (tmp_path / "datasets" / "my_faces").mkdir(parents=True)
    assert completion.datasets("my") == ["my_faces"]
    assert "facades" in completion.datasets("fac")
    assert completion.datasets("datasets/") == ["datasets/my_faces/"]
    assert "horse2zebra" in _complete("img2img train cyclegan --data horse")
    assert "my_faces" in _complete("img2img evaluate --data my")
    assert _complete("img2img datasets check my") == ["my_faces"]
    assert _complete("img2img datasets download cyclegan/horse") == ["cyclegan/horse2zebra"]


def test_completion_is_installed_for_the_img2img_program():
    # started by no shell (setsid, no shell among the parents): nothing to detect
    script = subprocess.run([sys.executable, "-m", "img2img", "completion", "bash"],
                            capture_output=True, text=True, check=True, timeout=120,
                            start_new_session=True).stdout
    assert "_IMG2IMG_COMPLETE=complete_bash" in script
    assert script.rstrip().endswith("img2img")


def test_completion_prints_the_named_shells_script_whatever_the_shell_running_it():
    for shell, marker in (("zsh", "#compdef img2img"), ("fish", "complete --command img2img"),
                          ("powershell", "Register-ArgumentCompleter")):
        result = runner.invoke(app, ["completion", shell], prog_name="img2img",
                               env={"SHELL": "/bin/bash"})
        assert result.exit_code == 0, result.output
        assert marker in result.output
        assert "_IMG2IMG_COMPLETE" in result.output


def test_completion_names_the_shells_it_knows():
    result = runner.invoke(app, ["completion", "tcsh"], prog_name="img2img")
    assert result.exit_code == 2
    assert "tcsh" in result.output and "bash" in result.output
