# The reproduction report: results/scorecard.md and results/report/index.html, from the artifacts.


rule report:
    """The scorecard (every claim per paper, with its verdict) and the HTML report (papers ->
    figures, captions, claims, tables, provenance). The benchmark files summed for the compute
    cost are read, not declared: each is written with its job's outputs, which this rule
    already waits for (directly, or through the claims and tables)."""
    input:
        claims="results/claims.csv",
        artifacts=report_artifacts,
    output:
        html="results/report/index.html",
        scorecard="results/scorecard.md",
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    localrule: True
    conda:
        ENV
    params:
        experiments=list(EXPERIMENTS),
        preset=config["preset"],
    script:
        "../scripts/report.py"
