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
    # A retry (--retries) gets attempt x the time and memory: a job killed at its time limit
    # comes back with more and resumes from its checkpoint.
    resources:
        mem_mb=scaled_by_attempt("mem_mb"),
        runtime=scaled_by_attempt("runtime"),
        gpu=lambda wildcards: experiment(wildcards)["resources"]["gpu"],
    params:
        spec=chunk_spec,
        data_paths=chunk_data_paths,
        runs_dir=lambda wildcards: f"results/{wildcards.exp}/runs",
        device=config["device"],
        checkpoint=lambda wildcards: f"results/{wildcards.exp}/checkpoints/{wildcards.chunk}.pt",
    script:
        "../scripts/train.py"
