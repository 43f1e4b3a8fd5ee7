rule audit:
    input:
        get_final_targets(),
    output:
        "results/audit.json",
    log:
        "logs/audit/audit.log",
    benchmark:
        "logs/benchmarks/audit/audit.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=on_attempt(4000),
        runtime=on_attempt(60),
    params:
        images="sample",
        code=code_version("audit"),
    script:
        "../scripts/audit.py"


rule environment:
    output:
        report(
            "results/environment.txt",
            caption="../report/environment.rst",
            category="5. Reproducibility",
        ),
    log:
        "logs/environment/environment.log",
    benchmark:
        "logs/benchmarks/environment/environment.tsv"
    conda:
        "../envs/data.yaml"
    params:
        code=code_version("environment"),
        packages=resolved_packages(),
    script:
        "../scripts/environment.py"
