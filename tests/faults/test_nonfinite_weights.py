"""Weights holding NaN or infinite values are refused wherever they would be run or exported.

Such weights translate every image to black (or to NaN); they come from a training run that
diverged or a damaged file. Loading for inference or export fails at once with one line naming
the file, the network and the tensor; an export that fails for any reason leaves no file.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from img2img.checkpoints import load_checkpoint, save_checkpoint
from img2img.cli import app
from img2img.export import export_model
from img2img.export.api import output_difference
from img2img.families.loading import load_inference_model
from img2img.models.finite import NonFiniteWeightsError, check_finite
from img2img.models.released import save_release
from img2img.nn import create_generator

runner = CliRunner()


def _damaged_checkpoint(reference_run: Path, folder: Path, value: float = float("nan"),
                        count: int = 3) -> tuple[Path, str]:
    """The reference run's checkpoint with ``count`` values of one generator weight set to
    ``value`` (checksums recomputed, as a diverged run would write them); and that weight."""
    data = load_checkpoint(reference_run)
    payload = {k: v for k, v in data.items() if k not in ("format", "format_version", "checksums")}
    state = {k: v.clone() for k, v in payload["nets"]["G"].items()}
    key = next(k for k, v in state.items() if k.endswith("weight") and v.numel() > count)
    state[key].view(-1)[:count] = value
    payload["nets"] = {**payload["nets"], "G": state}
    return save_checkpoint(folder / "diverged.pt", payload), key


def _one_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.output.count("Error:") == 1 and "Traceback" not in result.output, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    for needle in needles:
        assert needle in text, result.output
    return text


def _photos(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir()
    Image.new("L", (32, 32), 128).save(folder / "a.png")
    return folder


def test_translate_refuses_nan_weights_naming_the_network_and_tensor(reference_run, tmp_path):
    path, key = _damaged_checkpoint(reference_run, tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["translate", "--model", str(path), str(_photos(tmp_path / "in")),
                                 str(out), "--device", "cpu"])
    _one_error(result, "network G", key, "3 NaN values", "damaged or training diverged")
    assert not out.exists() or not any(out.iterdir())


def test_infinite_values_are_counted_too(reference_run, tmp_path):
    path, key = _damaged_checkpoint(reference_run, tmp_path, float("-inf"), count=1)
    with pytest.raises(NonFiniteWeightsError, match=rf"{key} holds 1 infinite value;"):
        load_inference_model(path)


@pytest.mark.parametrize("suffix", [".safetensors", ".onnx", ".ts"])
def test_export_refuses_nan_weights_and_leaves_no_file(reference_run, tmp_path, suffix):
    path, key = _damaged_checkpoint(reference_run, tmp_path)
    target = tmp_path / "exports" / f"model{suffix}"
    target.parent.mkdir()
    result = runner.invoke(app, ["export", str(path), str(target)])
    _one_error(result, "network G", key, "NaN")
    assert list(target.parent.iterdir()) == []


def test_evaluate_refuses_nan_weights(reference_run, tmp_path, gray2color):
    path, key = _damaged_checkpoint(reference_run, tmp_path)
    result = runner.invoke(app, ["evaluate", "--model", str(path), "--data", str(gray2color),
                                 "--metrics", "l1", "--out", str(tmp_path / "eval"),
                                 "--device", "cpu"])
    _one_error(result, "network G", key)


def test_a_release_with_infinite_weights_is_refused(reference_run, tmp_path):
    model = load_inference_model(reference_run)
    net = model.networks["G"]
    key, weight = next((k, v) for k, v in net.named_parameters() if k.endswith("weight"))
    with torch.no_grad():
        weight.view(-1)[0] = float("inf")
    path = save_release(tmp_path / "g.safetensors", {"G": net}, family="pix2pix",
                        config=model.config.to_dict(), step=model.step)
    with pytest.raises(NonFiniteWeightsError, match=rf"g.safetensors: network G: {key} "
                                                    "holds 1 infinite value"):
        load_inference_model(path)


def test_published_weights_with_nan_are_refused(tmp_path):
    net = create_generator("resnet_6blocks", ngf=4, init_type=None)
    state = net.state_dict()
    state["model.1.weight"] = torch.full_like(state["model.1.weight"], float("nan"))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = tmp_path / "published.pth"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(NonFiniteWeightsError, match=r"model.1.weight holds \d+ NaN values"):
        load_inference_model(path)


def test_export_of_a_model_that_turned_nan_writes_nothing(reference_run, tmp_path):
    model = load_inference_model(reference_run)
    with torch.no_grad():
        next(model.networks["G"].parameters()).view(-1)[0] = float("nan")
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the previous export")
    with pytest.raises(NonFiniteWeightsError, match="network G"):
        export_model(model, target, "onnx", overwrite=True)
    assert target.read_bytes() == b"the previous export"


def test_an_export_whose_check_fails_leaves_no_file(reference_run, tmp_path, monkeypatch):
    """Finite weights whose exported output is NaN (an operator the runtime gets wrong): the
    check fails instead of reporting 'max difference nan', and nothing is left behind."""
    import img2img.export.torchscript as torchscript

    broken = torchscript.torchscript_runner

    def nan_runner(path):
        run = broken(path)
        return lambda x: run(x) * float("nan")

    monkeypatch.setattr(torchscript, "torchscript_runner", nan_runner)
    model = load_inference_model(reference_run)
    target = tmp_path / "model.ts"
    with pytest.raises(ValueError, match=r"model.ts: the exported network's output .* holds NaN"):
        export_model(model, target, "torchscript")
    assert list(tmp_path.iterdir()) == []


def test_output_difference_treats_nan_as_a_failure():
    x = torch.zeros(1, 3, 4, 4)
    assert output_difference(x + 1e-3, x, Path("m.onnx")) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="NaN"):
        output_difference(x * float("nan"), x, Path("m.onnx"))


def test_the_check_is_one_pass_per_tensor_and_names_only_floats():
    state = {"steps": torch.tensor(7), "w": torch.ones(3), "b": torch.tensor([0.0, float("nan")])}
    with pytest.raises(NonFiniteWeightsError, match="^f.pt: network D: b holds 1 NaN value;"):
        check_finite({"G": {"w": torch.ones(2)}, "D": state}, "f.pt")
    check_finite({"G": {"w": torch.ones(2)}, "D": state}, "f.pt", names=["G"])
