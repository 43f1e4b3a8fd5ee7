rule ingest:
    input:
        get_data_input(),
    output:
        raw="results/manifest/raw.parquet",
        rejected="results/manifest/ingest_rejected.parquet",
        summary="results/manifest/ingest_summary.json",
    log:
        "logs/ingest/ingest.log",
    benchmark:
        "logs/benchmarks/ingest/ingest.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(8000),
        runtime=on_attempt(60),
    params:
        data=config["data"],
        listing=get_listing_fingerprint,
        code=code_version("ingest"),
    script:
        "../scripts/ingest.py"


rule clean_shard:
    input:
        raw="results/manifest/raw.parquet",
    output:
        temp("results/manifest/clean_shards/{shard}-of-{n}.parquet"),
    log:
        "logs/clean_shard/{shard}-of-{n}.log",
    benchmark:
        "logs/benchmarks/clean_shard/{shard}-of-{n}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 8
    resources:
        mem_mb=on_attempt(8000),
        runtime=on_attempt(240),
    params:
        root=get_data_root(),
        categories=config["categories"],
        exclude=config["exclude_categories"],
        min_size=config["clean"]["min_size"],
        max_pixels=config["clean"]["max_pixels"],
        code=code_version("clean_shard"),
    script:
        "../scripts/clean_shard.py"


rule clean:
    input:
        raw="results/manifest/raw.parquet",
        rejected="results/manifest/ingest_rejected.parquet",
        summary="results/manifest/ingest_summary.json",
        checks=get_clean_shards(),
    output:
        clean="results/manifest/clean.parquet",
        rejected="results/manifest/rejected.parquet",
        summary=report(
            "results/manifest/clean_summary.json",
            caption="../report/clean_summary.rst",
            category="1. Data",
        ),
    log:
        "logs/clean/clean.log",
    benchmark:
        "logs/benchmarks/clean/clean.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(8000),
        runtime=on_attempt(30),
    params:
        shards=config["clean"]["shards"],
        near_duplicates=config["clean"]["near_duplicates"],
        near_duplicate_rule=NEAR_DUPLICATE_RULE,
        code=code_version("clean"),
    script:
        "../scripts/clean.py"


rule sample:
    input:
        clean="results/manifest/clean.parquet",
    output:
        sample="results/manifest/sample.parquet",
        summary="results/manifest/sample_summary.json",
    log:
        "logs/sample/sample.log",
    benchmark:
        "logs/benchmarks/sample/sample.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(4000),
        runtime=on_attempt(10),
    params:
        categories=config["categories"],
        sample=config["sample"],
        near_duplicate_rule=NEAR_DUPLICATE_RULE,
        code=code_version("sample"),
    script:
        "../scripts/sample.py"


# Repeats 1 … R-1 of the split (`repeats`): the sample's images split again; nothing upstream reruns.
rule resplit:
    input:
        "results/manifest/sample.parquet",
    output:
        "results/repeats/{repeat}/sample.parquet",
    log:
        "logs/resplit/{repeat}.log",
    benchmark:
        "logs/benchmarks/resplit/{repeat}.tsv"
    wildcard_constraints:
        repeat=r"[1-9]\d*",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(4000),
        runtime=on_attempt(10),
    params:
        categories=config["categories"],
        sample=config["sample"],
        code=code_version("resplit"),
    script:
        "../scripts/resplit.py"
