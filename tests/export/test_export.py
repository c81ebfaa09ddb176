"""Exports: ONNX and TorchScript compute what translate computes; safetensors load back."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from img2img.cli import app
from img2img.export import export_model, format_for
from img2img.export.torchscript import read_torchscript_metadata, torchscript_runner
from img2img.families.loading import load_inference_model
from img2img.infer.plan import plan_outputs
from img2img.infer.translate import translate_files
from img2img.models.inference import InferenceModel
from img2img.models.onnx_runtime import METADATA_KEY, OnnxModel
from img2img.nn import create_generator

SHAPES = [(1, 128, 128), (3, 256, 128)]  # two batch sizes, two image sizes (unet_128)


def _model(test_mode: str = "paper", dropout: bool = True) -> InferenceModel:
    """A tiny real unet_128 (batch norm, dropout) with running statistics far from 0 and 1."""
    torch.manual_seed(0)
    net = create_generator("unet_128", in_channels=1, out_channels=3, ngf=4, norm="batch",
                           dropout=True)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return InferenceModel(net, "pix2pix", "unet_128", 1, 3, test_mode=test_mode,
                          dropout=dropout)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported")
    model = _model()
    return model, export_model(model, folder / "g.onnx", "onnx"), \
        export_model(model, folder / "g.ts", "torchscript")


def _translated(model, batch: int, height: int, width: int) -> torch.Tensor:
    """What translate computes: the model's own run, in the network's [-1, 1] range."""
    x = model.example_input(batch, height, width)
    with torch.inference_mode():
        return model.run(x, [str(i) for i in range(batch)]), x


def test_onnx_and_torchscript_compute_translate_without_dropout(exported):
    model, onnx_result, ts_result = exported
    no_dropout = _model(dropout=False)  # what 'translate --no-dropout' runs
    onnx_model = load_inference_model(onnx_result.path)
    torchscript = torchscript_runner(ts_result.path)
    for shape in SHAPES:
        expected, x = _translated(no_dropout, *shape)
        got_onnx = onnx_model.run(x, [])
        assert got_onnx.shape == expected.shape
        assert (got_onnx - expected).abs().max() < 1e-4
        assert (torchscript(x) - expected).abs().max() < 1e-4
    with_dropout, x = _translated(model, *SHAPES[0])
    assert (onnx_model.run(x, []) - with_dropout).abs().max() > 1e-2  # dropout really is off
    assert any("dropout is off" in n for n in onnx_result.notes)
    assert any("instance normalisation" in n for n in onnx_result.notes)
    assert onnx_result.max_difference < 1e-4 and len(onnx_result.checks) == 2


def test_onnx_graph_is_dynamic_and_described(exported):
    _, result, ts_result = exported
    proto = onnx.load(str(result.path))
    (graph_input,) = proto.graph.input
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert dims[0] == "batch" and dims[1] == 1
    assert "128" in dims[2] and "128" in dims[3]  # symbolic multiples of the size multiple
    assert {o.domain: o.version for o in proto.opset_import}[""] == 18
    props = {p.key: p.value for p in proto.metadata_props}
    metadata = json.loads(props[METADATA_KEY])
    assert metadata["family"] == "pix2pix" and metadata["network"] == "unet_128"
    assert metadata["size_multiple"] == 128 and metadata["opset"] == 18
    assert metadata["input"]["range"] == [-1.0, 1.0] and metadata["output"]["range"] == [-1, 1]
    assert "dropout off" in metadata["test_mode"]
    assert props["img2img.family"] == "pix2pix"
    assert read_torchscript_metadata(ts_result.path)["network"] == "unet_128"

    for path, kind in ((result.path, "ONNX export"), (ts_result.path, "TorchScript export")):
        shown = runner_invoke("info", str(path), "--json")
        assert shown.exit_code == 0, shown.output
        info = json.loads(shown.output)
        assert info["kind"].startswith(kind) and info["family"] == "pix2pix", info
        assert info["architecture"] == "netG unet_128" and info["config"] is None
        assert info["input"] == ("'input', batch x 1 x height x width: the image, scaled "
                                 "from [0, 1] to [-1, 1]")
        assert info["output"] == "'output', batch x 3 x height x width: values in [-1, 1]"
        assert "dropout off" in info["test_mode"] and "multiples of 128" in info["height_width"]
        text = " ".join(runner_invoke("info", str(path)).output.split())
        assert f"kind: {kind}" in text and "height width: multiples of 128" in text


def test_eval_mode_export_uses_running_statistics(tmp_path):
    model = _model("eval")
    result = export_model(model, tmp_path / "eval.ts", "torchscript")
    assert result.notes == []
    expected, x = _translated(model, *SHAPES[1])
    assert (torchscript_runner(result.path)(x) - expected).abs().max() < 1e-4


def test_translate_with_the_onnx_model(exported, gray2color, tmp_path):
    _, result, _ = exported
    onnx_model = load_inference_model(result.path)
    assert isinstance(onnx_model, OnnxModel)
    jobs = plan_outputs(gray2color / "test" / "A", tmp_path / "onnx")[:3]
    summary = translate_files(onnx_model, jobs, batch_size=2)
    assert summary.written == 3 and "onnxruntime" in summary.test_mode
    reference = plan_outputs(gray2color / "test" / "A", tmp_path / "torch")[:3]
    translate_files(_model(dropout=False), reference, batch_size=3)
    for a, b in zip(jobs, reference, strict=True):
        diff = np.abs(np.asarray(Image.open(a.dst), int) - np.asarray(Image.open(b.dst), int))
        assert diff.max() <= 1  # equal up to the rounding of one 8-bit level
    with pytest.raises(ValueError, match="fixed when it was exported"):
        load_inference_model(result.path, test_mode="eval")
    with pytest.raises(ValueError, match="float32"):
        translate_files(onnx_model, plan_outputs(gray2color / "test" / "A",
                                                 tmp_path / "bf16")[:1], precision="bf16")


def test_safetensors_release_loads_as_the_run(trained_run, tmp_path):
    out = tmp_path / "g.safetensors"
    result = runner_invoke("export", str(trained_run), str(out))
    assert result.exit_code == 0, result.output
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        metadata = f.metadata()
    assert metadata["family"] == "pix2pix" and json.loads(metadata["config"])["model"][
        "netG"] == "unet_128"
    released, original = load_inference_model(out), load_inference_model(trained_run)
    assert released.config == original.config and released.step == original.step
    for key, value in original.net.state_dict().items():
        assert torch.equal(released.net.state_dict()[key], value)
    x = original.example_input(2, 128, 128)
    assert torch.equal(released.run(x, ["a", "b"]), original.run(x, ["a", "b"]))

    again = runner_invoke("export", str(trained_run), str(out))
    assert again.exit_code == 2 and "--overwrite" in again.output

    release = json.loads(runner_invoke("info", str(out), "--json").output)
    run = json.loads(runner_invoke("info", str(trained_run), "--json").output)
    assert release["kind"] == "release (.safetensors)" and run["kind"] == "run directory"
    for key in ("family", "architecture", "step", "config"):
        assert release[key] == run[key], key
    assert release["parameters"] == {"G": run["parameters"]["G"]}


def test_formats_and_refusals(tmp_path):
    assert format_for("a.onnx", None) == "onnx" and format_for("a.ts", None) == "torchscript"
    assert format_for("a.bin", "safetensors") == "safetensors"
    with pytest.raises(ValueError, match="--format"):
        format_for("model.bin", None)
    with pytest.raises(ValueError, match="not valid"):
        format_for("a.onnx", "tflite")
    (tmp_path / "x.ts").write_bytes(b"")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_model(_model(), tmp_path / "x.ts", "torchscript")


def test_info_names_a_file_that_is_not_what_its_name_says(tmp_path):
    with warnings.catch_warnings():  # TorchScript's deprecation notice
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(torch.nn.Conv2d(1, 1, 1), torch.zeros(1, 1, 2, 2))
    traced.save(tmp_path / "p.ts")
    expected = {"junk.ts": "not a readable TorchScript file",
                "p.ts": "a TorchScript file without img2img's description",
                "junk.onnx": "not a readable ONNX model",
                "junk.safetensors": "not a readable safetensors file",
                "junk.pt": "not a PyTorch checkpoint"}
    for name, message in expected.items():
        if name.startswith("junk"):
            (tmp_path / name).write_bytes(b"junk")
        result = runner_invoke("info", str(tmp_path / name))
        assert result.exit_code == 2, (name, result.output)
        text = " ".join(result.output.split())
        assert f"{name}: {message}" in text, text


def runner_invoke(*args: str):
    return CliRunner().invoke(app, list(args))
