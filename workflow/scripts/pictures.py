from identvae.latents import write_pictures
from identvae.logs import to_log

with to_log(snakemake.log[0]):
    write_pictures(snakemake.params.runs_dir, snakemake.params.run_ids, snakemake.output[0])
    print(f"wrote {snakemake.output[0]}")
