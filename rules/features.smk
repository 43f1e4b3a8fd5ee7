rule fetch_weights:
    output:
        "resources/weights/{weights_file}",
    log:
        "logs/fetch_weights/{weights_file}.log",
    benchmark:
        "logs/benchmarks/fetch_weights/{weights_file}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        runtime=30,
    params:
        weights=get_weights_of_file,
        code=code_version("fetch_weights"),
    script:
        "../scripts/fetch_weights.py"


rule extract:
    input:
        unpack(get_extract_input),
    output:
        temp("results/features/shards/{backbone}/{shard}-of-{n}.parquet"),
    log:
        "logs/extract/{backbone}/{shard}-of-{n}.log",
    benchmark:
        "logs/benchmarks/extract/{backbone}/{shard}-of-{n}.tsv"
    wildcard_constraints:
        backbone=extracted_on("cpu"),
    conda:
        "../envs/extract.yaml"
    threads: 8
    resources:
        gpu=0,
        mem_mb=on_attempt(8000),
        # The same on every try, unlike the other rules' (on_attempt): a retry resumes from the saved
        # chunks, and a GPU partition's time limit would refuse a doubled ask (profiles/slurm gives
        # extraction more tries instead: preemptible-rules).
        runtime=360,
        # Not a param: chunks hold whole batches, so the features do not depend on it (no rerun).
        chunk_size=config["extract"]["chunk_size"],
    params:
        root=get_data_root(),
        weights=config["weights"],
        seed=config["extract"]["seed"],
        backbone=get_extraction_spec,
        mixed_precision=config["extract"]["mixed_precision"],
        device=config["extract"]["device"],
        runtime=config["extract"]["runtime"],
        precision=config["extract"]["precision"],
        code=code_version("extract"),
    script:
        "../scripts/extract.py"


# Extraction that asks for GPUs (extract.gpus; none with extract.device cpu or the OpenVINO runtime):
# the same job under its own rule name, so that a SLURM profile sends it to the GPU partition
# (profiles/slurm: set-resources) while extraction that asks for none stays on the CPU partition.
use rule extract as extract_gpu with:
    wildcard_constraints:
        backbone=extracted_on("gpu"),
    resources:
        gpu=get_extract_gpus(),
        mem_mb=on_attempt(8000),
        runtime=360,
        chunk_size=config["extract"]["chunk_size"],


rule merge_features:
    input:
        sample="results/manifest/sample.parquet",
        shards=get_feature_shards,
    output:
        "results/features/{backbone}.parquet",
    log:
        "logs/merge_features/{backbone}.log",
    benchmark:
        "logs/benchmarks/merge_features/{backbone}.tsv"
    wildcard_constraints:
        backbone="|".join(EXTRACTED),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(8000),
        runtime=on_attempt(20),
    params:
        code=code_version("merge_features"),
    script:
        "../scripts/merge_features.py"


rule fuse_features:
    input:
        sample="results/manifest/sample.parquet",
        members=get_fusion_members,
    output:
        "results/features/{fused}.parquet",
    log:
        "logs/fuse_features/{fused}.log",
    benchmark:
        "logs/benchmarks/fuse_features/{fused}.tsv"
    wildcard_constraints:
        fused="|".join(FUSIONS) or NOTHING,
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(8000),
        runtime=on_attempt(20),
    params:
        members=lambda wildcards: config["backbones"][wildcards.fused]["concat"],
        code=code_version("fuse_features"),
    script:
        "../scripts/fuse_features.py"
