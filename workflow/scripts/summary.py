from identvae.io import atomic_path
from identvae.logs import to_log
from identvae.summary import histories, summarise, write_settings

with to_log(snakemake.log[0]):
    runs_dir, run_ids = snakemake.params.runs_dir, snakemake.params.run_ids
    table = summarise(runs_dir, run_ids)
    with atomic_path(snakemake.output.summary, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.histories, suffix=".csv") as tmp:
        histories(runs_dir, table).to_csv(tmp, index=False)
    write_settings(
        snakemake.output.settings,
        snakemake.wildcards.exp,
        snakemake.params.settings,
        snakemake.params.preset,
    )
    print(table["status"].value_counts().to_string())
