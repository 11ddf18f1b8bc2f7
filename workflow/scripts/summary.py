from identvae.io import atomic_path
from identvae.logs import to_log
from identvae.summary import summarise

with to_log(snakemake.log[0]):
    table = summarise(snakemake.params.runs_dir, snakemake.params.run_ids)
    with atomic_path(snakemake.output[0], suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    print(table["status"].value_counts().to_string())
