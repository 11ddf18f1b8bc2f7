from identvae import provenance
from identvae.experiments import load, registry
from identvae.experiments.inputs import ExperimentData
from identvae.figures.style import save_figure
from identvae.io import write_text
from identvae.logs import to_log

with to_log(snakemake.log[0]):
    experiment = load(snakemake.params.exp)
    exp, entry = registry.figure_entry(snakemake.wildcards.fig)
    inputs = dict(snakemake.input.items())
    data = ExperimentData.from_paths(inputs)
    ctx = experiment.context(snakemake.params.settings)
    draw, describe = getattr(experiment, entry.draw), getattr(experiment, entry.caption)
    save_figure(draw(data, ctx), snakemake.output.pdf, snakemake.output.png)
    caption = describe(data, ctx)
    write_text(snakemake.output.caption, f"{caption} (Preset: {snakemake.params.preset}.)\n")
    outputs = {k: snakemake.output[k] for k in ("pdf", "png", "caption")}
    record = provenance.figure_record(
        figure=entry.name,
        experiment=exp.name,
        reproduces=exp.reproduces,
        module=exp.module_path,
        draw=entry.draw,
        caption=entry.caption,
        inputs=inputs,
        outputs=outputs,
        preset=snakemake.params.preset,
        settings=snakemake.params.settings,
    )
    provenance.write_record(snakemake.output.provenance, record)
    print(caption)
