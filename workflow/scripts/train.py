from identvae.logs import to_log
from identvae.train.chunk import run_chunk

with to_log(snakemake.log[0]):
    run_chunk(
        snakemake.params.spec,
        snakemake.params.data_paths,
        runs_dir=snakemake.params.runs_dir,
        manifest_path=snakemake.output[0],
        device=snakemake.params.device,
        threads=snakemake.threads,
        progress=snakemake.params.progress,
    )
