from identvae.data import datasets
from identvae.logs import to_log

with to_log(snakemake.log[0]):
    data = datasets.generate(snakemake.params.data, snakemake.params.seed)
    datasets.save(data, snakemake.output[0])
    print(f"wrote {snakemake.output[0]}: {len(data.sources)} samples, mixing {data.mixing_name}")
