rule summary:
    input:
        chunk_manifests,
    output:
        "results/{exp}/summary.csv",
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
    script:
        "../scripts/summary.py"


rule figure:
    input:
        lambda wildcards: f"results/{figure_experiment(wildcards.fig)}/summary.csv",
    output:
        pdf=report(
            "results/figures/{fig}.pdf",
            caption="../report/figure.rst",
            category="Figures",
        ),
        png="results/figures/{fig}.png",
        caption="results/figures/{fig}.caption.md",
    log:
        "results/logs/figure_{fig}.log",
    benchmark:
        "results/benchmarks/figure_{fig}.tsv"
    localrule: True
    conda:
        ENV
    params:
        exp=lambda wildcards: figure_experiment(wildcards.fig),
        settings=lambda wildcards: EXPERIMENTS[figure_experiment(wildcards.fig)],
        preset=config["preset"],
    script:
        "../scripts/figure.py"


rule table:
    input:
        "results/{exp}/summary.csv",
    output:
        csv=report("results/tables/{exp}.csv", category="Tables"),
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
        expand("results/{exp}/summary.csv", exp=EXPERIMENTS),
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
        experiments=list(EXPERIMENTS),
        settings=EXPERIMENTS,
    script:
        "../scripts/claims.py"
