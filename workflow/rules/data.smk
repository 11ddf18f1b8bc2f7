rule dataset:
    """One dataset file. It runs inside Snakemake's own process (run:, no conda env of its own):
    drawing a dataset takes milliseconds, while a job of its own spent 1.5-4 s starting Python
    and importing torch (docs/performance.md, "Dataset jobs")."""
    input:
        user_file,
    output:
        "results/{exp}/data/{data_id}.npz",
    log:
        "results/{exp}/logs/dataset_{data_id}.log",
    benchmark:
        "results/{exp}/benchmarks/dataset_{data_id}.tsv"
    localrule: True
    params:
        data=lambda wildcards: sweeps.data_config(
            wildcards.exp, experiment(wildcards), wildcards.data_id
        ),
        seed=lambda wildcards: sweeps.data_seed(wildcards.data_id),
    run:
        from identvae.data import datasets

        datasets.write(params.data, params.seed, output[0], log[0])
