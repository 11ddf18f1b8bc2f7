from identvae.experiments import load, registry
from identvae.experiments.inputs import ExperimentData
from identvae.figures.style import save_figure
from identvae.io import write_text
from identvae.logs import to_log

with to_log(snakemake.log[0]):
    experiment = load(snakemake.params.exp)
    _, entry = registry.figure_entry(snakemake.wildcards.fig)
    data = ExperimentData.from_paths(dict(snakemake.input.items()))
    ctx = experiment.context(snakemake.params.settings)
    draw, describe = getattr(experiment, entry.draw), getattr(experiment, entry.caption)
    save_figure(draw(data, ctx), snakemake.output.pdf, snakemake.output.png)
    caption = describe(data, ctx)
    write_text(snakemake.output.caption, f"{caption} (Preset: {snakemake.params.preset}.)\n")
    print(caption)
