import pandas as pd

from identvae.experiments import load
from identvae.figures.style import save_figure
from identvae.io import write_text
from identvae.logs import to_log

with to_log(snakemake.log[0]):
    draw, describe = load(snakemake.params.exp).FIGURES[snakemake.wildcards.fig]
    summary = pd.read_csv(snakemake.input[0])
    extras = load(snakemake.params.exp).extras(snakemake.params.settings)
    save_figure(draw(summary, **extras), snakemake.output.pdf, snakemake.output.png)
    caption = describe(summary, **extras)
    write_text(snakemake.output.caption, f"{caption} (Preset: {snakemake.params.preset}.)\n")
    print(caption)
