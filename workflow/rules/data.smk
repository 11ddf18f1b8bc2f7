rule dataset:
    input:
        user_file,
    output:
        "results/{exp}/data/{data_id}.npz",
    log:
        "results/{exp}/logs/dataset_{data_id}.log",
    benchmark:
        "results/{exp}/benchmarks/dataset_{data_id}.tsv"
    localrule: True
    conda:
        ENV
    params:
        data=lambda wildcards: sweeps.data_config(
            wildcards.exp, experiment(wildcards), wildcards.data_id
        ),
        seed=lambda wildcards: sweeps.data_seed(wildcards.data_id),
    script:
        "../scripts/dataset.py"
