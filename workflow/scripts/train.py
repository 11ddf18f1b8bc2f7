from identvae.logs import to_log
from identvae.train.chunk import run_chunk

# progress and checkpoint_every_s change how a job reports and saves, never its numbers, so they
# are read from the config here instead of params: changing them does not retrain anything.
with to_log(snakemake.log[0]):
    run_chunk(
        snakemake.params.spec,
        snakemake.params.data_paths,
        runs_dir=snakemake.params.runs_dir,
        manifest_path=snakemake.output[0],
        device=snakemake.params.device,
        threads=snakemake.threads,
        progress=snakemake.config["progress"],
        checkpoint=snakemake.params.checkpoint,
        checkpoint_every_s=snakemake.config["checkpoint_every_s"],
    )
