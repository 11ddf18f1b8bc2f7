from pathlib import Path

import pandas as pd

from identvae.experiments import load
from identvae.logs import to_log
from identvae.tables import write_table

with to_log(snakemake.log[0]):
    experiment = load(snakemake.params.exp)
    extras = experiment.extras(snakemake.params.settings)
    table = experiment.table(pd.read_csv(snakemake.input[0]), **extras)
    write_table(table, Path(snakemake.output.csv).with_suffix(""))
    print(table.to_string(index=False))
