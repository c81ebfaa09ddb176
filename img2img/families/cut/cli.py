"""CUT's command-line extras: the examples of ``img2img train cut`` (its options are declared
on :class:`img2img.families.cut.config.CUTConfig`)."""

EXAMPLES = """\
[bold]Examples[/]

  img2img train cut --data datasets/horse2zebra

  img2img train cut --cut-mode fastcut --data datasets/horse2zebra

  img2img train cut --data my_unpaired --input-nc 1 --load-size 143 --crop-size 128 --max-steps 20000

  img2img translate --model runs/horse2zebra_cut horses/ zebras/

  img2img translate --model horse2zebra_cut horses/ zebras/
"""
