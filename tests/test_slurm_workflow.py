"""The tiny end-to-end DAG through a site's copy of profiles/slurm on a real (local) SLURM.

One run checks what a cluster user relies on: with extract.device: cpu no job asks for a GPU, so
every job lands on the CPU partition, extraction's included, although the profile maps extraction
that asks for GPUs (rule extract_gpu) to the GPU partition; an extraction job that fails (here:
cancelled while running, as a preemption does) is resubmitted asking for more memory but the same
run time; and the results equal a local run's. A second run sets extract.device: auto: extraction
is then rule extract_gpu, asks for a GPU through the profile's `gres` route (`--gres=gpu:1`, no
`--gpus`), lands on the GPU partition (whose 6-hour limit refuses a doubled run time) and is granted
a (fake) GPU that the CPU-only TensorFlow cannot use: the job must stop with the cause, not run on
the CPU, and is retried with the same run time although the command says `--retries 0`. A third does
the same for the NN's cell set to `classifiers.nn.device: gpu` (rule classify_gpu, `--gpus=1`).
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


def site_profile(folder, cluster, **resources):
    """profiles/slurm as a site edits its copy: its partitions filled in, no account (there is no
    accounting here, so the plugin's guess from sacct finds none and it submits without `-A`), squeue
    for job status (no slurmdbd), sizes that fit a 2-CPU node, and `resources` ({rule: {name: value}})
    added to set-resources. Extraction keeps the rule's own memory and time."""
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    assert all(placeholder in text for placeholder in PLACEHOLDERS)
    text = text.replace(PLACEHOLDERS[0], cluster.partition).replace(PLACEHOLDERS[1], cluster.gpu_partition)
    profile = yaml.safe_load(text)
    del profile["default-resources"]["slurm_account"]
    profile["set-resources"] |= {"classify": {"mem_mb": 3000}, "clean_shard": {"mem_mb": 2000},
                                 "ingest": {"mem_mb": 2000}, "clean": {"mem_mb": 2000}}
    for rule, values in resources.items():
        profile["set-resources"][rule] = profile["set-resources"].get(rule, {}) | values
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


def one_gpu(tres: str) -> bool:
    """A TresPerJob or TresPerNode value of one GPU (`gres:gpu:1`; `gres/gpu=1` in other releases)."""
    return re.fullmatch(r"gres[/:]gpu[:=]1", tres) is not None


def cancel_first_running_extract_job(cluster, process, timeout_s=600) -> str:
    """Wait for an extraction job to run, then cancel it (SIGTERM, as preemption sends)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and process.poll() is None:
        queue = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], env=cluster.env,
                               capture_output=True, text=True).stdout
        running = [line.split("|")[0] for line in queue.splitlines() if "|rule_extract_wildcards" in line]
        if running:
            subprocess.run(["scancel", running[0]], env=cluster.env, check=True)
            return running[0]
        time.sleep(0.5)
    raise AssertionError("no extraction job ran")


def without_timings(path):
    score = json.loads(path.read_text())
    score.pop("timings")
    return score


def test_slurm_places_jobs_by_their_gpu_ask_retries_extraction_and_matches_a_local_run(slurm_cluster, tmp_path):
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
    for job_id, (rule, job) in jobs.items():  # extract.device: cpu: no job asks for a GPU
        assert job["Partition"] == slurm_cluster.partition, (rule, job_id, job["Partition"])
        assert "gpu" not in job.get("TresPerJob", "") + job.get("TresPerNode", ""), job

    first = jobs[cancelled][1]
    assert first["JobState"] == "CANCELLED"
    retry = [job for job_id, (rule, job) in jobs.items()
             if rule == "extract" and job["Comment"] == first["Comment"] and job_id != cancelled]
    assert len(retry) == 1 and retry[0]["JobState"] == "COMPLETED", retry
    assert (first["MinMemoryNode"], first["TimeLimit"]) == ("8000M", "06:00:00")  # rules/features.smk, try 1
    assert (retry[0]["MinMemoryNode"], retry[0]["TimeLimit"]) == ("16000M", "06:00:00")  # try 2: the same time

    for local_score in (tmp_path / "local/results/scores").rglob("*.json"):
        remote_score = on_slurm / local_score.relative_to(tmp_path / "local")
        assert without_timings(remote_score) == without_timings(local_score), local_score.name
    assert (on_slurm / "results/table.csv").read_text() == (tmp_path / "local/results/table.csv").read_text()

    # extract.device: auto: extraction asks for a GPU (rule extract_gpu), here by the route the profile
    # offers clusters that refuse --gpus; SLURM grants a fake GPU the CPU build cannot use.
    config["extract"]["device"] = "auto"
    gres = site_profile(tmp_path / "gres-profile", slurm_cluster, extract_gpu={"gpu": 0, "gres": "gpu:1"})
    jobs = granted_a_gpu_and_stopped(
        slurm_cluster, on_slurm, config, gres, "results/features/efficientnetv2_b0.parquet", "extract_gpu",
        "logs/extract/efficientnetv2_b0/0-of-1.log",
        r"extract.device is 'auto' and this job was granted GPU \d+, but TensorFlow sees no GPU: "
        r"tensorflow.cpu 2\.21\.0 is a CPU-only build", "--preemptible-retries", "1")
    for job in jobs:  # --gres=gpu:1 and no --gpus: SLURM records one GPU per node, none per job
        assert one_gpu(job.get("TresPerNode", "")) and "gpu" not in job.get("TresPerJob", ""), job
    # `--retries 0` leaves extraction its own tries (profile: preemptible-rules): the retry asks for the
    # same run time, which the GPU partition's 6-hour limit (tests/slurm/start.sh) accepts.
    assert [(job["TimeLimit"], job["MinMemoryNode"]) for job in jobs] == [("06:00:00", "8000M"), ("06:00:00", "16000M")]

    # classifiers.nn.device: gpu: the NN's cell goes to the GPU partition with one GPU, and stops there too.
    config["extract"]["device"] = "cpu"  # extraction asks for no GPU again (rule extract, CPU partition)
    config["classifiers"]["nn"]["device"] = "gpu"
    jobs = granted_a_gpu_and_stopped(
        slurm_cluster, on_slurm, config, profile, "results/scores/efficientnetv2_b0/nn.json", "classify_gpu",
        "logs/classify/efficientnetv2_b0/nn.log",
        r"classifiers\.nn\.device is 'gpu' and this job was granted GPU \d+, but TensorFlow sees no "
        r"GPU: tensorflow.cpu 2\.21\.0 is a CPU-only build")
    assert len(jobs) == 1 and one_gpu(jobs[0].get("TresPerJob", "")), jobs  # --gpus=1, no retry


def granted_a_gpu_and_stopped(cluster, workdir, config, profile, target, rule, log, message, *args) -> list[dict]:
    """Make `target` with `config` on SLURM (`--retries 0`, then `args`): it must fail, every job of
    `rule` must have run on the GPU partition, and `log` must hold `message` (a regex). Returns
    SLURM's records of the rule's jobs, oldest first."""
    run_snakemake(workdir, config, "-n")  # writes the config file the command below reads
    command = ["timeout", "600",
               *snakemake_command(workdir, target, "--profile", str(profile), "--retries", "0", *args)]
    granted = subprocess.run(command, env=cluster.env, capture_output=True, text=True, timeout=660)
    assert granted.returncode != 0, granted.stdout[-3000:]
    text = (workdir / log).read_text()
    assert re.search(message, text), text
    logs = sorted((workdir / f".snakemake/slurm_logs/rule_{rule}").rglob("*.log"), key=lambda p: int(p.stem))
    jobs = [show_job(path.stem, cluster) for path in logs]
    assert jobs and all(job["Partition"] == cluster.gpu_partition for job in jobs), jobs
    return jobs
