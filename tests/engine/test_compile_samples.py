"""``--compile``: sample grids run the networks eagerly and leave the compiled graphs alone."""

from __future__ import annotations

import torch
from torch import nn

from img2img import launch
from tests.conftest import tiny_pix2pix_config


def test_sample_grids_compile_no_graph_after_the_first_steps(gray2color, tmp_path, monkeypatch):
    """Every graph is compiled by the first two steps; the two sample grids in the steps
    after (and the steps around them) compile none: sample() must not recompile the training
    graphs by swapping or switching modules under them. The eager backend, counting graphs,
    stands in for inductor."""
    graphs: list[int | str] = []  # when each graph was compiled: train_step calls, or "sample"
    steps: list[int] = []
    sampling: list[bool] = [False]

    def counting_backend(gm, example_inputs):
        graphs.append("sample" if sampling[0] else len(steps))
        return gm.forward

    compile_module = nn.Module.compile
    monkeypatch.setattr(nn.Module, "compile", lambda self, **kw: compile_module(
        self, backend=counting_backend, **kw))
    build = launch.build_recipe

    def counting_build(*args, **kwargs):
        recipe = build(*args, **kwargs)
        step = recipe.train_step
        recipe.train_step = lambda batch: steps.append(1) or step(batch)
        sample = recipe.sample

        def flagged(batch):
            sampling[0] = True
            try:
                return sample(batch)
            finally:
                sampling[0] = False

        recipe.sample = flagged
        return recipe

    monkeypatch.setattr(launch, "build_recipe", counting_build)
    torch._dynamo.reset()
    try:
        config = tiny_pix2pix_config(gray2color, max_steps=6, sample_every=2, compile=True)
        run, result = launch.train(config, tmp_path)
    finally:
        torch._dynamo.reset()
    assert result.step == 6 and len(list(run.samples.glob("*.png"))) == 3
    assert graphs and "sample" not in graphs and max(graphs) <= 2, graphs
