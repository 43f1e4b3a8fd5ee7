"""The local SLURM, profiles/ci-slurm and the slurm executor plugin work together.

A tiny self-contained workflow (two jobs in parallel, one of them asking for a GPU, then a third
job) runs through `snakemake --profile profiles/ci-slurm`; every job must have gone through sbatch
and only the GPU job may see CUDA_VISIBLE_DEVICES.
"""

import re
import subprocess
import sys
import textwrap

pytest_plugins = ["slurm_cluster"]  # the session fixture `slurm_cluster` (tests/slurm_cluster.py)

SNAKEMAKE_TIMEOUT_S = 300

SNAKEFILE = textwrap.dedent(r"""
    ENV_LINE = (
        'echo "SLURM_JOB_ID=${{SLURM_JOB_ID:-}}" > {output}; '
        'echo "CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES-unset}}" >> {output}'
    )

    rule all:
        input:
            "out/combine.txt",

    rule cpu:
        output:
            "out/cpu.txt",
        resources:
            mem_mb=200,
        shell:
            ENV_LINE

    rule gpu:
        output:
            "out/gpu.txt",
        resources:
            gpu=1,
            mem_mb=200,
        shell:
            ENV_LINE

    rule combine:
        input:
            "out/cpu.txt",
            "out/gpu.txt",
        output:
            "out/combine.txt",
        shell:
            ENV_LINE
    """)

RULES = ("cpu", "gpu", "combine")


def _env_of(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_slurm_tiny_workflow_runs_every_job_through_sbatch(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    cmd = [
        "timeout",
        str(SNAKEMAKE_TIMEOUT_S),
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(slurm_cluster.profile),
        "--snakefile",
        "Snakefile",
    ]
    run = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=slurm_cluster.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    context = f"snakemake output:\n{run.stdout[-6000:]}\n{slurm_cluster.log_tail()}"
    assert run.returncode != 124, f"snakemake timed out after {SNAKEMAKE_TIMEOUT_S}s\n{context}"
    assert run.returncode == 0, context

    # Every job ran inside a SLURM job of its own.
    envs = {rule: _env_of(tmp_path / "out" / f"{rule}.txt") for rule in RULES}
    job_ids = {rule: env.get("SLURM_JOB_ID", "") for rule, env in envs.items()}
    for rule, job_id in job_ids.items():
        assert re.fullmatch(r"\d+", job_id), f"{rule} did not run under sbatch: {envs[rule]}"
    assert len(set(job_ids.values())) == len(RULES), job_ids

    # The plugin's per-job logs (kept by the profile) name the same job ids.
    slurm_logs = tmp_path / ".snakemake" / "slurm_logs"
    for rule, job_id in job_ids.items():
        logs = [p.stem for p in (slurm_logs / f"rule_{rule}").rglob("*.log")]
        assert job_id in logs, f"no slurm log {job_id}.log for rule {rule}: {logs}"

    # Only the GPU job got a (fake) GPU: SLURM sets CUDA_VISIBLE_DEVICES for it alone.
    assert envs["gpu"]["CUDA_VISIBLE_DEVICES"] not in ("unset", ""), envs["gpu"]
    assert envs["cpu"]["CUDA_VISIBLE_DEVICES"] == "unset", envs["cpu"]
    assert envs["combine"]["CUDA_VISIBLE_DEVICES"] == "unset", envs["combine"]

    # slurmctld itself knows the jobs as completed, and the GPU one as a GPU request.
    for rule, job_id in job_ids.items():
        shown = subprocess.run(
            ["scontrol", "show", "job", job_id],
            env=slurm_cluster.env,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert "JobState=COMPLETED" in shown, shown
        asked_gpu = re.search(r"TresPerJob=\S*gpu", shown) is not None
        assert asked_gpu == (rule == "gpu"), shown
