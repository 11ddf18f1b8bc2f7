# identvae: reproduce "Embrace the Gap" (NeurIPS 2022) and the iVAE (AISTATS 2020).
# snakemake --cores all                                         default (quick) preset
# snakemake --cores all --configfile config/presets/paper.yaml  the papers' scale
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


# anchored to this file, so that --directory elsewhere still finds the defaults
configfile: Path(workflow.basedir) / "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
