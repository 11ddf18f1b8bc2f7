rule train:
    """One job trains a chunk of runs as one ensemble and writes results/{exp}/runs/<run_id>/."""
    input:
        lambda wildcards: list(chunk_data_paths(wildcards).values()),
    output:
        "results/{exp}/chunks/{chunk}.json",
    log:
        "results/{exp}/logs/train_{chunk}.log",
    benchmark:
        "results/{exp}/benchmarks/train_{chunk}.tsv"
    conda:
        ENV
    threads: config["threads_per_job"]
    resources:
        mem_mb=lambda wildcards: experiment(wildcards)["resources"]["mem_mb"],
        runtime=lambda wildcards: experiment(wildcards)["resources"]["runtime"],
        gpu=lambda wildcards: experiment(wildcards)["resources"]["gpu"],
    params:
        spec=chunk_spec,
        data_paths=chunk_data_paths,
        runs_dir=lambda wildcards: f"results/{wildcards.exp}/runs",
        device=config["device"],
        checkpoint=lambda wildcards: f"results/{wildcards.exp}/checkpoints/{wildcards.chunk}.pt",
    script:
        "../scripts/train.py"
