rule dataset:
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
        data=lambda wildcards: experiment(wildcards)["data"],
        seed=lambda wildcards: sweeps.data_seed(wildcards.data_id),
    script:
        "../scripts/dataset.py"
