# Beyond the paper: what a reviewer asks of the table.


rule nearest_train:
    input:
        features="results/features/{backbone}.parquet",
        sample="results/manifest/sample.parquet",
    output:
        "results/leakage/{backbone}.parquet",
    log:
        "logs/nearest_train/{backbone}.log",
    benchmark:
        "logs/benchmarks/nearest_train/{backbone}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=on_attempt(8000),
        runtime=on_attempt(30),
    params:
        categories=config["categories"],
        code=code_version("nearest_train"),
    script:
        "../scripts/nearest_train.py"


rule leakage:
    input:
        nearest=expand("results/leakage/{backbone}.parquet", backbone=config["backbones"]),
        predictions=get_cells("predictions", "parquet", ensembles=False),
        scores=get_cells("scores", "json", ensembles=False),
    output:
        report("results/leakage.md", caption="../report/leakage.rst", category="4. Results"),
    log:
        "logs/leakage/leakage.log",
    benchmark:
        "logs/benchmarks/leakage/leakage.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=on_attempt(2000),
        runtime=on_attempt(10),
    params:
        backbones=list(config["backbones"]),
        classifiers=list(config["classifiers"]),
        categories=config["categories"],
        threshold=config["leakage"]["threshold"],
        code=code_version("leakage"),
    script:
        "../scripts/leakage.py"


# Random draws of each board's pins per point of the board accuracy curve (results/boards.md).
BOARD_DRAWS = 100


rule boards:
    input:
        predictions=get_cells("predictions", "parquet"),
        sample="results/manifest/sample.parquet",
    output:
        csv=report("results/boards.csv", caption="../report/boards.rst", category="4. Results"),
        md=report("results/boards.md", caption="../report/boards.rst", category="4. Results"),
        png=report("results/boards.png", caption="../report/boards.rst", category="4. Results"),
        pdf="results/boards.pdf",
    log:
        "logs/boards/boards.log",
    benchmark:
        "logs/benchmarks/boards/boards.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=on_attempt(2000),
        runtime=on_attempt(10),
    params:
        categories=config["categories"],
        group_by=config["sample"]["group_by"],
        seed=config["uncertainty"]["seed"],
        draws=BOARD_DRAWS,
        code=code_version("boards"),
    script:
        "../scripts/boards.py"


rule summary:
    input:
        clean="results/manifest/clean_summary.json",
        sample="results/manifest/sample_summary.json",
        table="results/table.md",
        leakage="results/leakage.md",
        comparison="results/paper_comparison.md",
        boards="results/boards.md",
    output:
        report("results/summary.md", caption="../report/summary.rst", category="0. Summary"),
    log:
        "logs/summary/summary.log",
    benchmark:
        "logs/benchmarks/summary/summary.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(1000),
        runtime=on_attempt(5),
    params:
        code=code_version("summary"),
    script:
        "../scripts/summary.py"
