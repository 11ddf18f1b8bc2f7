from identvae.claims import judge_all, write_claims
from identvae.experiments import load
from identvae.experiments.inputs import ExperimentData
from identvae.logs import to_log

with to_log(snakemake.log[0]):
    results = []
    for name, paths in snakemake.params.inputs.items():
        experiment = load(name)
        data = ExperimentData.from_paths(paths)
        results += judge_all(
            experiment.CLAIMS, data, experiment.context(snakemake.params.settings[name])
        )
    table = write_claims(results, snakemake.output[0])
    print(table.to_string(index=False))
