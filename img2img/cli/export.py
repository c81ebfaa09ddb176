"""``img2img export MODEL OUT --format onnx|torchscript|safetensors``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img import completion
from img2img.cli import options as o
from img2img.cli.errors import user_errors

EXAMPLES = """\
[bold]Examples[/]

  img2img export runs/facades_pix2pix facades.onnx

  img2img export runs/facades_pix2pix facades.safetensors

  img2img export runs/facades_pix2pix/checkpoints/epoch_0100.pt facades.ts --format torchscript --eval

  img2img translate --model facades.onnx photos/ out/
"""


def export(
    model: Annotated[str, typer.Argument(help="Run directory, checkpoint, .safetensors, published generator .pth or published model name.", autocompletion=completion.models)],
    output: Annotated[Path, typer.Argument(help="The file to write (.onnx, .ts, .safetensors).")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="onnx, torchscript or safetensors (default: from OUT's extension).")] = None,
    opset: Annotated[int | None, typer.Option("--opset", help="ONNX opset (default 18).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Do not run the exported file against the PyTorch model.")] = False,
    eval_mode: o.TestEval = False,
) -> None:
    """Export a generator to ONNX (dynamic sizes), TorchScript or .safetensors weights.

    A .safetensors file holds the weights and the run's config.
    ONNX and TorchScript files compute the model's test-time output without per-image dropout
    noise (what 'translate --no-dropout' computes; with --eval, what 'translate --eval'
    computes) and carry a description (family, network, ranges, size multiple, test mode).
    Each export is run on two batch sizes and two image sizes and compared with PyTorch.
    """
    from img2img.cli import show

    with user_errors():
        from img2img.export import export_model, format_for
        from img2img.families.loading import load_inference_model

        fmt = format_for(output, fmt)
        if output.exists() and not overwrite:
            raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
        options = o.test_options(eval_mode, False, None)
        if fmt == "safetensors" and eval_mode:
            raise ValueError("--eval: .safetensors files hold weights; choose the test mode "
                             "when translating them")
        loaded = load_inference_model(model, "cpu", **options)
        result = export_model(loaded, output, fmt, opset=opset, overwrite=overwrite,
                              verify=not no_verify)
    show.exported(result)
