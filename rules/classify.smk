rule classify:
    input:
        features="results/features/{backbone}.parquet",
        sample="results/manifest/sample.parquet",
    output:
        scores="results/scores/{backbone}/{classifier}.json",
        predictions="results/predictions/{backbone}/{classifier}.parquet",
        model="results/models/{backbone}/{classifier}/model.json",
        arrays="results/models/{backbone}/{classifier}/arrays.npz",
    log:
        "logs/classify/{backbone}/{classifier}.log",
    benchmark:
        "logs/benchmarks/classify/{backbone}/{classifier}.tsv"
    wildcard_constraints:
        classifier=classifiers_on("cpu"),
    conda:
        "../envs/classify.yaml"
    threads: 2
    resources:
        mem_mb=on_attempt(16000),
        runtime=on_attempt(120),
    params:
        categories=config["categories"],
        settings=lambda wildcards: config["classifiers"][wildcards.classifier],
        seed=config["classify"]["seed"],
        uncertainty=config["uncertainty"],
        group_by=config["sample"]["group_by"],
        code=code_version("classify"),
    script:
        "../scripts/classify.py"


# The cells of a classifier set to `device: gpu` (the NN): the same job asking for one GPU, under its
# own rule name so that a SLURM profile sends it to the GPU partition (profiles/slurm: set-resources).
use rule classify as classify_gpu with:
    wildcard_constraints:
        classifier=classifiers_on("gpu"),
    resources:
        gpu=1,
        mem_mb=on_attempt(16000),
        runtime=on_attempt(120),


# The cells again on each repeat of the split (`repeats`), from the same features.
use rule classify as classify_repeat with:
    input:
        features="results/features/{backbone}.parquet",
        sample="results/repeats/{repeat}/sample.parquet",
    output:
        scores="results/repeats/{repeat}/scores/{backbone}/{classifier}.json",
        predictions="results/repeats/{repeat}/predictions/{backbone}/{classifier}.parquet",
    log:
        "logs/classify/repeats/{repeat}/{backbone}/{classifier}.log",
    benchmark:
        "logs/benchmarks/classify/repeats/{repeat}/{backbone}/{classifier}.tsv"


use rule classify_gpu as classify_gpu_repeat with:
    input:
        features="results/features/{backbone}.parquet",
        sample="results/repeats/{repeat}/sample.parquet",
    output:
        scores="results/repeats/{repeat}/scores/{backbone}/{classifier}.json",
        predictions="results/repeats/{repeat}/predictions/{backbone}/{classifier}.parquet",
    log:
        "logs/classify/repeats/{repeat}/{backbone}/{classifier}.log",
    benchmark:
        "logs/benchmarks/classify/repeats/{repeat}/{backbone}/{classifier}.tsv"


rule ensemble:
    input:
        scores=lambda wildcards: get_ensemble_cells(wildcards, "scores", "json"),
        predictions=lambda wildcards: get_ensemble_cells(wildcards, "predictions", "parquet"),
        models=lambda wildcards: get_ensemble_models(wildcards, "model.json"),
        arrays=lambda wildcards: get_ensemble_models(wildcards, "arrays.npz"),
    output:
        scores="results/scores/{ensemble}/ensemble.json",
        predictions="results/predictions/{ensemble}/ensemble.parquet",
        model="results/models/{ensemble}/ensemble/model.json",
        arrays="results/models/{ensemble}/ensemble/arrays.npz",
    log:
        "logs/ensemble/{ensemble}.log",
    benchmark:
        "logs/benchmarks/ensemble/{ensemble}.tsv"
    wildcard_constraints:
        ensemble="|".join(config["ensembles"]) or NOTHING,
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=on_attempt(2000),
        runtime=on_attempt(10),
    params:
        cells=lambda wildcards: config["ensembles"][wildcards.ensemble],
        categories=config["categories"],
        uncertainty=config["uncertainty"],
        group_by=config["sample"]["group_by"],
        code=code_version("ensemble"),
    script:
        "../scripts/ensemble.py"


rule aggregate:
    input:
        scores=get_cells("scores", "json"),
        predictions=get_cells("predictions", "parquet"),
        repeats=get_repeat_scores(),
    output:
        csv=report("results/table.csv", caption="../report/table.rst", category="4. Results"),
        repeats="results/repeats.csv",
        md="results/table.md",
        tex="results/table.tex",
        png=report("results/table.png", caption="../report/heatmap.rst", category="4. Results"),
        pdf="results/table.pdf",
        comparison=report(
            "results/paper_comparison.md",
            caption="../report/paper_comparison.rst",
            category="4. Results",
        ),
        pairwise=report(
            "results/pairwise.md", caption="../report/pairwise.rst", category="4. Results"
        ),
        pairwise_csv="results/pairwise.csv",
        pairwise_repeats="results/pairwise_repeats.csv",
    log:
        "logs/aggregate/aggregate.log",
    benchmark:
        "logs/benchmarks/aggregate/aggregate.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=on_attempt(2000),
        runtime=on_attempt(10),
    params:
        backbones=list(config["backbones"]),
        classifiers=list(config["classifiers"]),
        ensembles=list(config["ensembles"]),
        paper={name: entry.get("paper", {}) for name, entry in config["backbones"].items()},
        categories=config["categories"],
        uncertainty=config["uncertainty"],
        table=config["table"],
        repeats=config["repeats"],
        group_by=config["sample"]["group_by"],
        code=code_version("aggregate"),
    script:
        "../scripts/aggregate.py"


# Every cell's figures in one job: a plotting job's time is mostly importing matplotlib (about 4 s on
# a 2-core AMD EPYC), while a figure takes a fraction of a second.
rule plots:
    input:
        get_cells("scores", "json", ensembles=False),
    output:
        get_cell_figures("results/plots/{backbone}/{classifier}.{figure}.png", report)
        + get_cell_figures("results/plots/{backbone}/{classifier}.{figure}.pdf"),
    log:
        "logs/plots/plots.log",
    benchmark:
        "logs/benchmarks/plots/plots.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=on_attempt(1000),
        runtime=on_attempt(10),
    params:
        code=code_version("plots"),
    script:
        "../scripts/plots.py"
