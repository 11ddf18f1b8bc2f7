from pathlib import Path

from identvae.logs import to_log
from identvae.report.html import build_report
from identvae.report.scorecard import counts_line

with to_log(snakemake.log[0]):
    cards = build_report(
        Path(snakemake.input.claims).parent,
        html=snakemake.output.html,
        scorecard_md=snakemake.output.scorecard,
        experiments=snakemake.params.experiments,
        preset=snakemake.params.preset,
    )
    for card in cards:
        print(f"{card.title}: {counts_line(card.counts)}")
