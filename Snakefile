from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/data.smk"
include: "rules/features.smk"
include: "rules/classify.smk"
include: "rules/evaluation.smk"
include: "rules/predict.smk"
include: "rules/reproducibility.smk"
include: "rules/doctor.smk"


rule all:
    default_target: True
    input:
        get_final_targets(),
