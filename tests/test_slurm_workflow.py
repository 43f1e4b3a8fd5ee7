"""The tiny end-to-end DAG through a site's copy of profiles/slurm on a real (local) SLURM.

One run checks what a cluster user relies on: each rule's jobs land on the partition the profile
names (extraction on the GPU partition, the rest on the CPU one), a job that fails (here: cancelled
while running, as a preemption does) is resubmitted asking for more memory and time, and the
results equal a local run's. A second run grants extraction a (fake) GPU that the CPU-only
TensorFlow cannot use: the job must stop with the cause, not run on the CPU; a third does the same
for the NN's cell set to `classifiers.nn.device: gpu`, which must land on the GPU partition.
"""

import json
import re
import subprocess
import time

import yaml

from conftest import REPO, SMALL_CATEGORIES, run_snakemake, small_config, snakemake_command, tiny_backbones
from pinclass.demo_crawl import make_demo_crawl

pytest_plugins = ["slurm_cluster"]

BACKBONES = tiny_backbones("efficientnetv2_b0", "convnext_tiny", shards={"convnext_tiny": 2})
CLASSIFIERS = {"knn": {"grid": {"n_neighbors": [1, 3]}}, "lsvm": {"grid": {"C": [0.1, 1.0]}},
               "nn": {"grid": {"batch_size": [8, 16]}, "hidden_units": 32, "max_epochs": 5, "patience": 2}}
REMOTE_JOBS = {"ingest": 1, "clean_shard": 2, "clean": 1, "extract": 3 + 1, "classify": 6}  # + 1: the retry
PLACEHOLDERS = ("REPLACE_WITH_YOUR_CPU_PARTITION", "REPLACE_WITH_YOUR_GPU_PARTITION")


def site_profile(folder, cluster):
    """profiles/slurm as a site edits its copy: its partitions filled in, no account (no accounting
    here), squeue for job status (no slurmdbd), and sizes that fit a 2-CPU node. Extraction keeps the
    rule's own memory and time, which grow on retry."""
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    assert all(placeholder in text for placeholder in PLACEHOLDERS)
    text = text.replace(PLACEHOLDERS[0], cluster.partition).replace(PLACEHOLDERS[1], cluster.gpu_partition)
    profile = yaml.safe_load(text)
    del profile["default-resources"]["slurm_account"]
    profile["set-resources"] |= {"classify": {"mem_mb": 3000}, "clean_shard": {"mem_mb": 2000},
                                 "ingest": {"mem_mb": 2000}, "clean": {"mem_mb": 2000}}
    profile |= {"slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 10,
                "slurm-keep-successful-logs": True, "max-threads": 2, "latency-wait": 10}
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def show_job(job_id, cluster) -> dict:
    """SLURM's own record of a job, as key=value pairs."""
    text = subprocess.run(["scontrol", "show", "job", str(job_id)], env=cluster.env, capture_output=True,
                          text=True, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", text))


def cancel_first_running_extract_job(cluster, process, timeout_s=600) -> str:
    """Wait for an extraction job to run, then cancel it (SIGTERM, as preemption sends)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and process.poll() is None:
        queue = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], env=cluster.env,
                               capture_output=True, text=True).stdout
        running = [line.split("|")[0] for line in queue.splitlines() if "|rule_extract" in line]
        if running:
            subprocess.run(["scancel", running[0]], env=cluster.env, check=True)
            return running[0]
        time.sleep(0.5)
    raise AssertionError("no extraction job ran")


def without_timings(path):
    score = json.loads(path.read_text())
    score.pop("timings")
    return score


def test_slurm_places_rules_retries_bigger_and_matches_a_local_run(slurm_cluster, tmp_path):
    crawl = tmp_path / "crawl"
    make_demo_crawl(crawl, SMALL_CATEGORIES, ["none", "other"], images_per_category=12, seed=3, size=48)
    config = small_config(data={"root": str(crawl), "manifest": None}, backbones=BACKBONES, classifiers=CLASSIFIERS,
                          uncertainty={"n_boot": 200, "seed": 0, "level": 0.95},
                          extract={"seed": 0, "mixed_precision": False, "gpus": 1, "device": "cpu"})
    local = run_snakemake(tmp_path / "local", config, "--cores", "2", timeout=900)
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]

    on_slurm = tmp_path / "slurm"
    profile = site_profile(tmp_path / "site-profile", slurm_cluster)
    run_snakemake(on_slurm, config, "-n")  # writes the config file the command below reads
    command = ["timeout", "900", *snakemake_command(on_slurm, "--profile", str(profile))]
    process = subprocess.Popen(command, env=slurm_cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    cancelled = cancel_first_running_extract_job(slurm_cluster, process)
    output = process.communicate(timeout=960)[0]
    assert process.returncode == 0, output[-6000:] + slurm_cluster.log_tail()

    job_logs = {rule: sorted((on_slurm / ".snakemake/slurm_logs").glob(f"rule_{rule}/**/*.log"))
                for rule in REMOTE_JOBS}
    assert {rule: len(logs) for rule, logs in job_logs.items()} == REMOTE_JOBS
    jobs = {log.stem: (rule, show_job(log.stem, slurm_cluster)) for rule, logs in job_logs.items() for log in logs}
    for job_id, (rule, job) in jobs.items():
        wanted = slurm_cluster.gpu_partition if rule == "extract" else slurm_cluster.partition
        assert job["Partition"] == wanted, (rule, job_id, job["Partition"])
        assert "gpu" not in job.get("TresPerJob", ""), job  # extract.device: cpu asks for no GPU

    first = jobs[cancelled][1]
    assert first["JobState"] == "CANCELLED"
    retry = [job for job_id, (rule, job) in jobs.items()
             if rule == "extract" and job["Comment"] == first["Comment"] and job_id != cancelled]
    assert len(retry) == 1 and retry[0]["JobState"] == "COMPLETED", retry
    assert (first["MinMemoryNode"], first["TimeLimit"]) == ("8000M", "06:00:00")  # rules/features.smk, try 1
    assert (retry[0]["MinMemoryNode"], retry[0]["TimeLimit"]) == ("16000M", "12:00:00")  # try 2: twice both

    for local_score in (tmp_path / "local/results/scores").rglob("*.json"):
        remote_score = on_slurm / local_score.relative_to(tmp_path / "local")
        assert without_timings(remote_score) == without_timings(local_score), local_score.name
    assert (on_slurm / "results/table.csv").read_text() == (tmp_path / "local/results/table.csv").read_text()

    # extract.device: auto on the GPU partition: SLURM grants a fake GPU the CPU build cannot use.
    config["extract"]["device"] = "auto"
    granted_a_gpu_and_stopped(
        slurm_cluster, on_slurm, config, profile, "results/features/efficientnetv2_b0.parquet", "extract",
        "logs/extract/efficientnetv2_b0/0-of-1.log",
        r"extract.device is 'auto' and this job was granted GPU \d+, but TensorFlow sees no GPU: "
        r"tensorflow.cpu 2\.21\.0 is a CPU-only build")

    # classifiers.nn.device: gpu: the NN's cell goes to the GPU partition with one GPU, and stops there too.
    config["extract"]["device"] = "cpu"  # the features made above stay current
    config["classifiers"]["nn"]["device"] = "gpu"
    jobs = granted_a_gpu_and_stopped(
        slurm_cluster, on_slurm, config, profile, "results/scores/efficientnetv2_b0/nn.json", "classify_gpu",
        "logs/classify/efficientnetv2_b0/nn.log",
        r"classifiers\.nn\.device is 'gpu' and this job was granted GPU \d+, but TensorFlow sees no "
        r"GPU: tensorflow.cpu 2\.21\.0 is a CPU-only build")
    assert len(jobs) == 1, jobs


def granted_a_gpu_and_stopped(cluster, workdir, config, profile, target, rule, log, message) -> list:
    """Make `target` with `config` on SLURM: the newest job of `rule` must have asked for one GPU on
    the GPU partition and stopped, writing `message` (a regex) to `log`. Returns the rule's job logs."""
    run_snakemake(workdir, config, "-n")  # writes the config file the command below reads
    command = ["timeout", "600", *snakemake_command(workdir, target, "--profile", str(profile), "--retries", "0")]
    granted = subprocess.run(command, env=cluster.env, capture_output=True, text=True, timeout=660)
    assert granted.returncode != 0, granted.stdout[-3000:]
    text = (workdir / log).read_text()
    assert re.search(message, text), text
    jobs = sorted((workdir / f".snakemake/slurm_logs/rule_{rule}").rglob("*.log"), key=lambda p: int(p.stem))
    job = show_job(jobs[-1].stem, cluster)
    assert re.search(r"gres[/:]gpu[:=]1\b", job["TresPerJob"]) and job["Partition"] == cluster.gpu_partition
    return jobs
