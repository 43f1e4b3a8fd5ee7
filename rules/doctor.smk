# What TensorFlow sees where extraction runs: `snakemake -f doctor` (or with --profile on a cluster;
# the job asks for the GPUs an extraction job would). Outside Snakemake: `make doctor`, or
# `srun --gpus=1 .venv/bin/python -m pinclass.doctor --expect-gpu`. The job fails, with the cause,
# when extract.device would stop there for want of a GPU (gpu; auto in a job granted GPUs).
rule doctor:
    output:
        "results/doctor.txt",
    log:
        "logs/doctor/doctor.log",
    benchmark:
        "logs/benchmarks/doctor/doctor.tsv"
    conda:
        "../envs/extract.yaml"
    threads: 2
    resources:
        gpu=get_extract_gpus(),
        mem_mb=on_attempt(4000),
        runtime=on_attempt(10),
    params:
        device=extraction_policy(config["extract"]["device"], config["extract"]["runtime"]),
        seconds=1.0,
        code=code_version("doctor"),
    script:
        "../scripts/doctor.py"
