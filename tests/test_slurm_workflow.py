"""The tiny end-to-end DAG through profiles/slurm on a real (local) SLURM, against a local run."""

import json
import re
import subprocess

from conftest import REPO, SMALL_CATEGORIES, run_snakemake, small_config, snakemake_command
from pinclass.demo_crawl import make_demo_crawl

pytest_plugins = ["slurm_cluster"]

BACKBONES = {"efficientnetv2_b0": {"input_size": 32, "batch_size": 16, "shards": 1},
             "convnext_tiny": {"input_size": 32, "batch_size": 16, "shards": 2}}
CLASSIFIERS = {"knn": {"grid": {"n_neighbors": [1, 3]}}, "lsvm": {"grid": {"C": [0.1, 1.0]}},
               "nn": {"grid": {"batch_size": [8, 16]}, "hidden_units": 32, "max_epochs": 5, "patience": 2}}
# What a site sets in its copy of profiles/slurm: its partition (no account: no accounting here),
# squeue for job status (no slurmdbd), and job sizes that fit a 2-CPU node.
SITE_SETTINGS = ["--default-resources", "slurm_partition=ci", "mem_mb=1000", "runtime=10",
                 "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "10",
                 "--slurm-keep-successful-logs", "--max-threads", "2",
                 "--set-resources", "extract:mem_mb=3000", "classify:mem_mb=3000", "clean_shard:mem_mb=2000",
                 "ingest:mem_mb=2000", "clean:mem_mb=2000"]
REMOTE_JOBS = {"ingest": 1, "clean_shard": 2, "clean": 1, "extract": 3, "classify": 6}


def without_timings(path):
    score = json.loads(path.read_text())
    score.pop("timings")
    return score


def test_slurm_runs_the_dag_with_gpus_and_matches_a_local_run(slurm_cluster, tmp_path):
    crawl = tmp_path / "crawl"
    make_demo_crawl(crawl, SMALL_CATEGORIES, ["none", "other"], images_per_category=12, seed=3, size=48)
    config = small_config(data={"root": str(crawl), "manifest": None}, backbones=BACKBONES, classifiers=CLASSIFIERS,
                          uncertainty={"n_boot": 200, "seed": 0, "level": 0.95})
    local = run_snakemake(tmp_path / "local", config, "--cores", "2", timeout=900)
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]

    on_slurm = tmp_path / "slurm"
    run_snakemake(on_slurm, config, "-n")  # writes the config file the command below reads
    command = ["timeout", "900", *snakemake_command(on_slurm, "--profile", str(REPO / "profiles/slurm"),
                                                    *SITE_SETTINGS)]
    result = subprocess.run(command, env=slurm_cluster.env, capture_output=True, text=True, timeout=960)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:] + slurm_cluster.log_tail()

    job_logs = {rule: sorted((on_slurm / ".snakemake/slurm_logs").glob(f"rule_{rule}/**/*.log"))
                for rule in REMOTE_JOBS}
    assert {rule: len(logs) for rule, logs in job_logs.items()} == REMOTE_JOBS
    for log in job_logs["extract"]:
        job = subprocess.run(["scontrol", "show", "job", log.stem], env=slurm_cluster.env, capture_output=True,
                             text=True, check=True).stdout
        assert re.search(r"TresPerJob=gres[/:]gpu[:=]1\b", job), job  # the GPU request reached SLURM
    for log in (on_slurm / "logs/extract").rglob("*.log"):
        assert re.search(r"CUDA_VISIBLE_DEVICES=\d", log.read_text()), log  # and SLURM granted one

    for local_score in (tmp_path / "local/results/scores").rglob("*.json"):
        remote_score = on_slurm / local_score.relative_to(tmp_path / "local")
        assert without_timings(remote_score) == without_timings(local_score), local_score.name
    assert (on_slurm / "results/table.csv").read_text() == (tmp_path / "local/results/table.csv").read_text()
