"""The device policy (extract.device) and the GPU slots of a workstation.

This machine has the CPU-only TensorFlow and no GPU, so every "GPU granted" below is a fake grant
(CUDA_VISIBLE_DEVICES set, as SLURM or a GPU slot sets it): the job must stop with the cause, never
run on the CPU while it holds a GPU.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pyarrow.parquet as pq
import pytest

from conftest import CPU_TENSORFLOW, REPO, run_snakemake, small_config, snakemake_command, tiny_backbones
from pinclass import devices, gpu_slots
from pinclass.atomic import read_metadata
from pinclass.config import ConfigError, classifier_settings

CPU_BUILD = devices.Facts(granted=(), gpus_seen=0, cuda_build=False, driver_found=False,
                          build="tensorflow-cpu 2.21.0")
GPU_BUILD = devices.Facts(granted=(), gpus_seen=0, cuda_build=True, driver_found=True,
                          build="tensorflow 2.21.0 (CUDA 12.5.1, cuDNN 9)")


def with_(facts, **changes):
    return devices.Facts(**(facts.__dict__ | changes))


@pytest.mark.parametrize("value, ids", [(None, ()), ("", ()), ("-1", ()), ("NoDevFiles", ()), ("0", ("0",)),
                                        ("2, 3", ("2", "3")), ("GPU-5f1c", ("GPU-5f1c",))])
def test_granted_gpus_read_cuda_visible_devices(value, ids):
    environ = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}
    assert devices.granted_gpus(environ) == ids


def test_auto_runs_on_the_cpu_only_when_no_gpu_was_granted():
    assert devices.choose("auto", CPU_BUILD) == "cpu"
    assert devices.choose("auto", with_(GPU_BUILD, gpus_seen=2)) == "cpu"  # visible but nobody granted them
    assert devices.choose("auto", with_(GPU_BUILD, gpus_seen=1, granted=("3",))) == "gpu"
    assert devices.choose("gpu", with_(GPU_BUILD, gpus_seen=1)) == "gpu"
    assert devices.choose("gpu", with_(GPU_BUILD, gpus_seen=1, granted=("0",))) == "gpu"
    assert devices.choose("cpu", with_(GPU_BUILD, gpus_seen=1, granted=("0",))) == "cpu"


def test_the_stop_names_the_config_key_and_the_rule_to_send_to_a_gpu_partition():
    with pytest.raises(devices.DeviceError, match=r"^classifiers\.nn\.device is 'gpu' and no GPU was granted, .*"
                                                  r"set-resources classify_gpu\)"):
        devices.choose("gpu", GPU_BUILD, key="classifiers.nn.device", rule="classify_gpu")


def test_a_classify_job_runs_where_its_classifier_says_and_on_the_cpu_without_a_device_setting():
    assert devices.classifier_policy(classifier_settings("nn", None)) == "cpu"  # the schema's default
    assert devices.classifier_policy(classifier_settings("nn", {"device": "gpu"})) == "gpu"
    assert devices.classifier_policy(classifier_settings("lsvm", None)) == "cpu"
    with pytest.raises(ConfigError, match="classifiers.lsvm"):
        classifier_settings("lsvm", {"device": "gpu"})  # only the NN trains on a GPU


@pytest.mark.parametrize("policy, facts, cause", [
    ("auto", with_(CPU_BUILD, granted=("0",)), r"tensorflow-cpu 2\.21\.0 is a CPU-only build; install the GPU "
                                               r"build: `make GPU=1 setup`"),
    ("gpu", CPU_BUILD, r"no GPU was granted, .*CPU-only build"),
    ("auto", with_(GPU_BUILD, granted=("1",), driver_found=False), r"granted GPU 1, .*libcuda\.so\.1 cannot be loaded"),
    ("gpu", GPU_BUILD, r"no GPU was granted to the job: submit it to a GPU partition"),
    ("auto", with_(GPU_BUILD, granted=("0", "1")), r"granted GPU 0,1, .*could not load the CUDA libraries"),
])
def test_a_granted_or_required_gpu_that_tensorflow_cannot_see_stops_with_its_cause(policy, facts, cause):
    with pytest.raises(devices.DeviceError, match=cause) as stopped:
        devices.choose(policy, facts)
    assert "Stopping rather than running on the CPU" in str(stopped.value)


def test_the_facts_of_this_machine_name_the_cpu_only_build():
    facts = devices.gather_facts({"CUDA_VISIBLE_DEVICES": "0"})
    assert facts == devices.Facts(granted=("0",), gpus_seen=0, cuda_build=False, driver_found=facts.driver_found,
                                  build=facts.build)
    assert facts.build.replace("_", "-").startswith(f"{CPU_TENSORFLOW} 2.21.0")
    info = devices.build_info()
    assert info["is_cuda_build"] is False and info["version"] == "2.21.0"


# ---------------------------------------------------------------- GPU slots

HOLDER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {scripts!r})
    from pinclass import gpu_slots
    ids = gpu_slots.assign(int(sys.argv[1]), folder=sys.argv[2])
    print(ids, flush=True)
    time.sleep(float(sys.argv[3]))
""").format(scripts=str(REPO / "scripts"))


def hold(count, folder, seconds, slots=3, visible="4,5,6"):
    env = dict(os.environ, PINCLASS_GPU_SLOTS=str(slots), CUDA_VISIBLE_DEVICES=visible)
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(count), str(folder), str(seconds)], env=env,
                            stdout=subprocess.PIPE, text=True)


def test_concurrent_jobs_claim_distinct_gpus_and_wait_for_a_held_slot(tmp_path):
    holders = [hold(1, tmp_path, 30) for _ in range(3)]
    claimed = [p.stdout.readline().strip() for p in holders]
    assert sorted(claimed) == ["4", "5", "6"]  # slot i is the i-th id of the parent's CUDA_VISIBLE_DEVICES

    waiting = hold(1, tmp_path, 0)  # every slot is held: it must not start on one of them
    time.sleep(1.5)
    assert waiting.poll() is None
    holders[1].kill()  # the kernel drops the dead job's lock
    holders[1].wait()
    assert waiting.stdout.readline().strip() == claimed[1]
    waiting.wait(timeout=30)
    for p in holders:
        p.kill()
        p.wait()


def test_a_job_of_two_gpus_gets_two_and_jobs_without_gpu_get_none(tmp_path):
    env = {"PINCLASS_GPU_SLOTS": "4"}
    assert gpu_slots.assign(2, env, tmp_path) == "0,1" and env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert gpu_slots.assign(0, env, tmp_path) == "" and env["CUDA_VISIBLE_DEVICES"] == ""
    assert gpu_slots.assign(1, {}, tmp_path) is None  # no slots declared: SLURM's or nobody's business
    with pytest.raises(RuntimeError, match="lists 1"):
        gpu_slots.claim(1, 2, tmp_path, {"CUDA_VISIBLE_DEVICES": "3"})
    with pytest.raises(RuntimeError, match="only 4 are declared"):
        gpu_slots.claim(5, 4, tmp_path, {})


# ---------------------------------------------------------------- the extract job itself

BACKBONE = tiny_backbones("efficientnetv2_b0", batch_size=8, shards={"efficientnetv2_b0": 2})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A workdir with the sample made, so each test below runs extraction jobs only."""
    workdir = tmp_path_factory.mktemp("devices")
    result = run_snakemake(workdir, small_config(backbones=BACKBONE), "--cores", "2", "results/manifest/sample.parquet")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def extract(workdir, extract_config, *args, env=None):
    config = small_config(backbones=BACKBONE, extract={"seed": 0, "mixed_precision": False, "gpus": 1}
                          | extract_config)
    run_snakemake(workdir, config, "-n")  # writes the config file
    command = snakemake_command(workdir, "results/features/efficientnetv2_b0.parquet", "--cores", "2",
                                "--keep-going", *args, "--forcerun", "extract", "extract_gpu")
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=dict(os.environ, **(env or {})))


def extract_logs(workdir):
    return [(workdir / f"logs/extract/efficientnetv2_b0/{s}-of-2.log").read_text() for s in range(2)]


def test_a_job_granted_a_gpu_stops_on_the_cpu_build_and_writes_nothing(prepared):
    began = time.monotonic()
    result = extract(prepared, {"device": "auto"}, env={"CUDA_VISIBLE_DEVICES": "0"})
    assert result.returncode != 0
    assert time.monotonic() - began < 120
    for log in extract_logs(prepared):
        assert "extract.device is 'auto' and this job was granted GPU 0, but TensorFlow sees no GPU" in log
        assert "CPU-only build; install the GPU build: `make GPU=1 setup`" in log
        assert "images in batches" not in log  # stopped before building the model
    assert not (prepared / "results/features/efficientnetv2_b0.parquet").exists()


def test_device_gpu_without_a_grant_stops(prepared):
    result = extract(prepared, {"device": "gpu"}, env={"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode != 0
    assert all("extract.device is 'gpu' and no GPU was granted" in log for log in extract_logs(prepared))


def test_device_cpu_hides_a_gpu_and_the_file_records_the_device(prepared):
    result = extract(prepared, {"device": "cpu"}, env={"CUDA_VISIBLE_DEVICES": "0"})
    assert result.returncode == 0, result.stderr[-3000:]
    meta = read_metadata(prepared / "results/features/efficientnetv2_b0.parquet")
    assert meta["device"].startswith('{"kind": "cpu", "name": ')
    assert '"is_cuda_build": false' in meta["tensorflow_build"] and '"version": "2.21.0"' in meta["tensorflow_build"]
    assert pq.read_table(prepared / "results/features/efficientnetv2_b0.parquet").num_rows == 40


def test_declared_gpu_slots_give_concurrent_jobs_distinct_gpus(prepared):
    """`--resources gpu=2` on a workstation: two extraction jobs at once, each with a GPU of its own
    (here they then stop, as the CPU build cannot use it — which shows the grant reached them)."""
    result = extract(prepared, {"device": "auto"}, "--resources", "gpu=2", "--set-threads", "extract_gpu=1",
                     env={"CUDA_VISIBLE_DEVICES": "6,7"})
    assert result.returncode != 0
    logs = extract_logs(prepared)
    claimed = [re.search(r"GPU slots claimed: CUDA_VISIBLE_DEVICES='(\d)'", log).group(1) for log in logs]
    assert sorted(claimed) == ["6", "7"]
    for log, gpu in zip(logs, claimed):
        assert f"this job was granted GPU {gpu}, but TensorFlow sees no GPU" in log


# ---------------------------------------------------------------- the NN's classify job on a GPU

def test_an_nn_set_to_gpu_asks_for_one_and_stops_without_it_while_other_cells_stay_on_the_cpu(prepared):
    """classifiers.nn.device: gpu: the NN's cell is a classify_gpu job asking for one GPU; on this
    machine (CPU build, nothing granted) it stops with the cause, and the KNN cell beside it runs on
    the CPU, GPUs hidden, and records so."""
    nn = {"grid": {"batch_size": [8]}, "hidden_units": 16, "max_epochs": 2, "device": "gpu"}
    config = small_config(backbones=BACKBONE, classifiers={"knn": {"grid": {"n_neighbors": [1]}}, "nn": nn},
                          extract={"seed": 0, "mixed_precision": False, "gpus": 1, "device": "cpu"})
    targets = [f"results/scores/efficientnetv2_b0/{name}.json" for name in ("knn", "nn")]
    planned = run_snakemake(prepared, config, "-n", "--cores", "2", *targets)
    assert planned.returncode == 0, planned.stderr[-3000:]
    jobs = {rule: block for rule, block in re.findall(r"^rule (\w+):\n((?:    .*\n)+)", planned.stdout, flags=re.M)}
    assert "classifier=nn" in jobs["classify_gpu"] and re.search(r"\bgpu=1\b", jobs["classify_gpu"])
    assert "classifier=knn" in jobs["classify"] and "gpu=" not in jobs["classify"]

    command = snakemake_command(prepared, *targets, "--cores", "2", "--keep-going")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, CUDA_VISIBLE_DEVICES="0"))
    assert result.returncode != 0
    log = (prepared / "logs/classify/efficientnetv2_b0/nn.log").read_text()
    assert re.search(r"classifiers\.nn\.device is 'gpu' and this job was granted GPU 0, but TensorFlow sees no "
                     r"GPU: tensorflow.cpu 2\.21\.0 is a CPU-only build", log), log
    assert not (prepared / "results/scores/efficientnetv2_b0/nn.json").exists()
    knn = json.loads((prepared / "results/scores/efficientnetv2_b0/knn.json").read_text())
    assert knn["device"]["kind"] == "cpu" and knn["device"]["name"] == devices.cpu_name()
