from identvae.claims import judge_all, write_claims
from identvae.experiments import load
from identvae.experiments.inputs import ExperimentData
from identvae.logs import to_log

with to_log(snakemake.log[0]):
    results = []
    for name, path in zip(snakemake.params.experiments, snakemake.input, strict=True):
        experiment = load(name)
        data = ExperimentData.from_paths({"summary": path})
        results += judge_all(
            experiment.CLAIMS, data, experiment.context(snakemake.params.settings[name])
        )
    table = write_claims(results, snakemake.output[0])
    print(table.to_string(index=False))
