rule demo_crawl:
    output:
        directory(DEMO_CRAWL),
    log:
        "logs/demo_crawl/demo_crawl.log",
    benchmark:
        "logs/benchmarks/demo_crawl/demo_crawl.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=on_attempt(2000),
        runtime=on_attempt(10),
    params:
        categories=config["categories"],
        excluded=config["exclude_categories"],
        images_per_category=config["demo"]["images_per_category"],
        seed=config["demo"]["seed"],
        size=config["demo"]["image_size"],
        code=code_version("make_demo_crawl"),
    script:
        "../scripts/make_demo_crawl.py"


# A second crawl for the demo's prediction set (demo/predict.yaml): new boards, another seed, no labels.
use rule demo_crawl as demo_new_crawl with:
    output:
        directory(DEMO_NEW_CRAWL),
    log:
        "logs/demo_crawl/demo_new_crawl.log",
    benchmark:
        "logs/benchmarks/demo_crawl/demo_new_crawl.tsv"
    params:
        images_per_category=config["demo"]["new_images_per_category"],
        seed=config["demo"]["seed"] + 1,
        labelled=False,
