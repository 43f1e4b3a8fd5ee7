# New images through a saved model (config `predict`): each set is ingested and cleaned with the main
# crawl's checks, its features extracted as the model's were, and its pins and boards predicted.


checkpoint best_model:
    input:
        get_cells("scores", "json", ensembles=False),
    output:
        "results/models/best.json",
    log:
        "logs/best_model/best_model.log",
    benchmark:
        "logs/benchmarks/best_model/best_model.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(1000),
        runtime=on_attempt(5),
    params:
        code=code_version("best_model"),
    script:
        "../scripts/best_model.py"


use rule ingest as predict_ingest with:
    input:
        get_predict_source,
    output:
        raw="results/predict/{name}/raw.parquet",
        rejected="results/predict/{name}/ingest_rejected.parquet",
        summary="results/predict/{name}/ingest_summary.json",
    log:
        "logs/predict/{name}/ingest.log",
    benchmark:
        "logs/benchmarks/predict/{name}/ingest.tsv"
    wildcard_constraints:
        name=PREDICT_SETS,
    params:
        data=get_predict_data,
        listing=get_predict_listing,
        labelled=False,


use rule clean_shard as predict_clean_shard with:
    input:
        raw="results/predict/{name}/raw.parquet",
    output:
        temp("results/predict/{name}/clean_shards/{shard}-of-{n}.parquet"),
    log:
        "logs/predict/{name}/clean_shard/{shard}-of-{n}.log",
    benchmark:
        "logs/benchmarks/predict/{name}/clean_shard/{shard}-of-{n}.tsv"
    wildcard_constraints:
        name=PREDICT_SETS,
    params:
        root=get_predict_root,
        categories=None,  # unlabelled images and boards without a category are normal here
        exclude=[],


use rule clean as predict_clean with:
    input:
        raw="results/predict/{name}/raw.parquet",
        rejected="results/predict/{name}/ingest_rejected.parquet",
        summary="results/predict/{name}/ingest_summary.json",
        checks=["results/predict/{name}/clean_shards/0-of-1.parquet"],
    output:
        clean="results/predict/{name}/clean.parquet",
        rejected="results/predict/{name}/rejected.parquet",
        summary="results/predict/{name}/clean_summary.json",
    log:
        "logs/predict/{name}/clean.log",
    benchmark:
        "logs/benchmarks/predict/{name}/clean.tsv"
    wildcard_constraints:
        name=PREDICT_SETS,
    params:
        shards=1,
        near_duplicates="keep",  # a near-copy is a pin to predict like any other


use rule extract as predict_extract with:
    input:
        unpack(get_predict_extract_input),
    output:
        temp("results/predict/{name}/features/shards/{backbone}/{shard}-of-{n}.parquet"),
    log:
        "logs/predict/{name}/extract/{backbone}/{shard}-of-{n}.log",
    benchmark:
        "logs/benchmarks/predict/{name}/extract/{backbone}/{shard}-of-{n}.tsv"
    wildcard_constraints:
        name=PREDICT_SETS,
        backbone=extracted_on("cpu"),
    params:
        root=get_predict_root,


# As extract_gpu to extract: the set's extraction when it asks for GPUs (the GPU partition's rule).
use rule predict_extract as predict_extract_gpu with:
    wildcard_constraints:
        name=PREDICT_SETS,
        backbone=extracted_on("gpu"),
    resources:
        gpu=get_extract_gpus(),
        mem_mb=on_attempt(8000),
        runtime=360,
        chunk_size=config["extract"]["chunk_size"],


use rule merge_features as predict_merge_features with:
    input:
        sample="results/predict/{name}/clean.parquet",
        shards=["results/predict/{name}/features/shards/{backbone}/0-of-1.parquet"],
    output:
        "results/predict/{name}/features/{backbone}.parquet",
    log:
        "logs/predict/{name}/merge_features/{backbone}.log",
    benchmark:
        "logs/benchmarks/predict/{name}/merge_features/{backbone}.tsv"
    wildcard_constraints:
        name=PREDICT_SETS,
        backbone="|".join(EXTRACTED),


rule predict:
    input:
        unpack(get_predict_inputs),
    output:
        pins="results/predict/{name}/pins.parquet",
        boards="results/predict/{name}/boards.parquet",
        summary=report(
            "results/predict/{name}/summary.md",
            caption="../report/predict.rst",
            category="6. Predictions",
            labels={"set": "{name}"},
        ),
    log:
        "logs/predict/{name}/predict.log",
    benchmark:
        "logs/benchmarks/predict/{name}/predict.tsv"
    wildcard_constraints:
        name=PREDICT_SETS,
    conda:
        "../envs/classify.yaml"
    resources:
        mem_mb=on_attempt(8000),
        runtime=on_attempt(30),
    params:
        top=lambda wildcards: config["predict"][wildcards.name]["top"],
        model=lambda wildcards: config["predict"][wildcards.name]["model"],
        code=code_version("predict_set"),
    script:
        "../scripts/predict_set.py"
