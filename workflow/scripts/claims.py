import pandas as pd

from identvae.claims import evaluate, write_claims
from identvae.experiments import load
from identvae.logs import to_log

with to_log(snakemake.log[0]):
    results = []
    for name, path in zip(snakemake.params.experiments, snakemake.input, strict=True):
        extras = load(name).extras(snakemake.params.settings[name])
        results += evaluate(name, pd.read_csv(path), **extras)
    table = write_claims(results, snakemake.output[0])
    print(table.to_string(index=False))
