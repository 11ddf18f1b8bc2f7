rule summary:
    """Run directories -> one row per run (summary), one row per run and check (histories), and
    the experiment's merged settings."""
    input:
        chunk_manifests,
    output:
        summary="results/{exp}/summary.csv",
        histories="results/{exp}/histories.csv",
        settings="results/{exp}/settings.yaml",
    log:
        "results/{exp}/logs/summary.log",
    benchmark:
        "results/{exp}/benchmarks/summary.tsv"
    localrule: True
    conda:
        ENV
    params:
        runs_dir=lambda wildcards: f"results/{wildcards.exp}/runs",
        run_ids=run_ids,
        settings=experiment,
        preset=config["preset"],
    script:
        "../scripts/summary.py"


rule latents:
    """Posterior means and samples of every finished run on its data, for figures that draw
    latents (their registry entry declares the input)."""
    input:
        chunk_manifests,
    output:
        "results/{exp}/latents.npz",
    log:
        "results/{exp}/logs/latents.log",
    benchmark:
        "results/{exp}/benchmarks/latents.tsv"
    localrule: True
    conda:
        ENV
    params:
        runs_dir=lambda wildcards: f"results/{wildcards.exp}/runs",
        run_ids=run_ids,
    script:
        "../scripts/latents.py"


rule pictures:
    """Images, reconstructions and a latent traversal of every finished run of an image model,
    for the figures that declare the input (what the model learned)."""
    input:
        chunk_manifests,
    output:
        "results/{exp}/pictures.npz",
    log:
        "results/{exp}/logs/pictures.log",
    benchmark:
        "results/{exp}/benchmarks/pictures.tsv"
    localrule: True
    conda:
        ENV
    params:
        runs_dir=lambda wildcards: f"results/{wildcards.exp}/runs",
        run_ids=run_ids,
    script:
        "../scripts/pictures.py"


rule figure:
    """A figure as PDF and PNG, its caption, and its provenance record: the functions that drew
    it, its inputs with their hashes, the settings and the code version."""
    input:
        unpack(figure_inputs),
    output:
        pdf=report(
            "results/figures/{fig}.pdf",
            caption="../report/figure.rst",
            category=lambda wildcards: paper_title(figure_experiment(wildcards)),
            subcategory=figure_experiment,
        ),
        png="results/figures/{fig}.png",
        caption="results/figures/{fig}.caption.md",
        provenance="results/figures/{fig}.provenance.json",
    log:
        "results/logs/figure_{fig}.log",
    benchmark:
        "results/benchmarks/figure_{fig}.tsv"
    localrule: True
    conda:
        ENV
    params:
        exp=figure_experiment,
        reproduces=lambda wildcards: registry.get(
            figure_experiment(wildcards)
        ).reproduces,
        settings=lambda wildcards: EXPERIMENTS[figure_experiment(wildcards)],
        preset=config["preset"],
    script:
        "../scripts/figure.py"


rule table:
    input:
        unpack(experiment_inputs),
    output:
        csv=report(
            "results/tables/{exp}.csv",
            caption="../report/table.rst",
            category=lambda wildcards: paper_title(wildcards.exp),
            subcategory="{exp}",
        ),
        md="results/tables/{exp}.md",
        tex="results/tables/{exp}.tex",
    log:
        "results/logs/table_{exp}.log",
    benchmark:
        "results/{exp}/benchmarks/table.tsv"
    localrule: True
    conda:
        ENV
    params:
        exp=lambda wildcards: wildcards.exp,
        settings=experiment,
    script:
        "../scripts/table.py"


rule claims:
    input:
        [path for name in EXPERIMENTS for path in experiment_input_map()[name].values()],
    output:
        report(
            "results/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        "results/logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    localrule: True
    conda:
        ENV
    params:
        inputs=experiment_input_map(),
        settings=EXPERIMENTS,
    script:
        "../scripts/claims.py"
