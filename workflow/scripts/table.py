from pathlib import Path

from identvae.experiments import load
from identvae.experiments.inputs import ExperimentData
from identvae.logs import to_log
from identvae.tables import write_table

with to_log(snakemake.log[0]):
    experiment = load(snakemake.params.exp)
    data = ExperimentData.from_paths(dict(snakemake.input.items()))
    table = experiment.table(data, experiment.context(snakemake.params.settings))
    write_table(table, Path(snakemake.output.csv).with_suffix(""))
    print(table.to_string(index=False))
