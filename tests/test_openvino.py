"""extract.runtime openvino: the same Keras model converted to OpenVINO gives TensorFlow's features
(f32) or close ones (bf16); meaningless settings are refused; the job runs on the CPU. Where OpenVINO
is not installed (requirements-common.txt leaves it out on Linux aarch64) the tests that run it skip,
and the runtime stops with a message naming extract.runtime."""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import run_snakemake, small_config, snakemake_command, tiny_backbones
from pinclass.atomic import read_metadata
from pinclass.backbones import build_backbone
from pinclass.demo_crawl import category_image, write_image
from pinclass.extraction import extract_features, image_paths
from pinclass.feature_tables import features_matrix
from pinclass.runtimes import RuntimeUnavailable, UnsupportedPrecision, check_precision, openvino_runner

SIZE, BATCH = 32, 4
needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                    reason="openvino is not installed (requirements-common.txt installs it on "
                                           "Linux x86_64 and macOS arm64 only)")
BACKBONES = tiny_backbones(input_size=SIZE, batch_size=BATCH)  # the paper's six


def relative_error(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(a).max())


def row_cosines(a, b) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def cpu_has_bf16() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """backbone → (model, its TensorFlow features) on 6 demo-like JPEGs: batches of 4 and a padded 2."""
    folder = tmp_path_factory.mktemp("images")
    paths = [write_image(folder / str(i), "jpeg", category_image(i, np.random.default_rng(i), 48)) for i in range(6)]
    built = {}

    def get(name):
        if name not in built:
            model = build_backbone(BACKBONES[name], SIZE, seed=0)
            built[name] = model, extract_features(paths, model, SIZE, BATCH, threads=2)
        return built[name]

    get.paths = paths
    return get


def openvino_features(reference, name, precision):
    model, _ = reference(name)
    return extract_features(reference.paths, openvino_runner(model, BATCH, precision, threads=2), SIZE, BATCH, 2)


@needs_openvino
@pytest.mark.parametrize("name", BACKBONES)
def test_openvino_f32_gives_tensorflows_features(reference, name):
    _, expected = reference(name)
    got = openvino_features(reference, name, "f32")
    assert got.shape == expected.shape == (6, BACKBONES[name]["width"]) and got.dtype == np.float32
    assert relative_error(expected, got) < 1e-5  # measured 1-2e-6; bf16 would be ~1e-2


@needs_openvino
@pytest.mark.parametrize("name", BACKBONES)
def test_openvino_bf16_features_are_close_to_float32_but_really_bf16(reference, name):
    if not cpu_has_bf16():
        pytest.skip("this CPU has no native bf16 (OpenVINO's CPU capabilities lack BF16)")
    _, expected = reference(name)
    got = openvino_features(reference, name, "bf16")
    # Measured per-row cosine at 32 px with random weights: ConvNeXt >= 0.99998, EfficientNetV2
    # 0.99981-0.99988 (its features are more sensitive to bf16 rounding), so 0.9999 holds for ConvNeXt only.
    floor = 0.9999 if name.startswith("convnext") else 0.9995
    assert row_cosines(expected, got).min() > floor
    assert relative_error(expected, got) > 1e-4  # bf16 arithmetic did happen (f32 agrees to ~1e-6)


def test_bf16_is_refused_on_a_cpu_without_native_bf16():
    without = ["WINOGRAD", "FP32", "INT8", "BIN", "EXPORT_IMPORT"]
    check_precision("bf16", without + ["BF16"])
    check_precision("f32", without)
    with pytest.raises(UnsupportedPrecision, match=r"extract.precision is 'bf16' but Old CPU has no native bf16 "
                                                   r"\(OpenVINO CPU capabilities: WINOGRAD, FP32"):
        check_precision("bf16", without, "Old CPU")


@needs_openvino
def test_the_runner_checks_the_precision_before_converting():
    without = ["WINOGRAD", "FP32", "INT8", "BIN", "EXPORT_IMPORT"]
    model = build_backbone(BACKBONES["efficientnetv2_b0"], SIZE, seed=0)
    with pytest.raises(UnsupportedPrecision, match="extract.precision: f32"):  # the runner asks before converting
        openvino_runner(model, BATCH, "bf16", threads=1, capabilities=without)


def test_without_openvino_the_runtime_stops_with_a_message_naming_the_setting(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed: importing it raises ImportError
    model = build_backbone(BACKBONES["efficientnetv2_b0"], SIZE, seed=0)
    with pytest.raises(RuntimeUnavailable, match=r"extract.runtime is 'openvino' but OpenVINO cannot be imported "
                                                 r"here .*or set extract.runtime: tensorflow"):
        openvino_runner(model, BATCH, "f32", threads=1)
    # scripts/extract.py logs an UnsupportedPrecision and exits 1: the same clean stop, no traceback
    assert issubclass(RuntimeUnavailable, UnsupportedPrecision)


def job_config(runtime: str) -> dict:
    """One tiny backbone; 40 images in batches of 16, the last one padded."""
    return small_config(backbones=tiny_backbones("efficientnetv2_b0", batch_size=16),
                        extract={"seed": 3, "runtime": runtime})


@pytest.fixture(scope="module")
def openvino_job(tmp_path_factory):
    """One extract job through Snakemake with runtime openvino, device auto, in an environment that
    names a GPU (which the TensorFlow runtime with device auto would try to use, and stop)."""
    workdir = tmp_path_factory.mktemp("openvino")
    config = job_config("openvino")
    run_snakemake(workdir, config, "-n")  # writes the config file
    result = subprocess.run(snakemake_command(workdir, "--cores", "2", "results/features/efficientnetv2_b0.parquet"),
                            capture_output=True, text=True, timeout=600, env=dict(os.environ, CUDA_VISIBLE_DEVICES="0"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, config


def test_an_openvino_job_asks_for_no_gpu(tmp_path):
    # (and goes to the CPU partition: rule extract, where a job asking for a GPU is rule extract_gpu)
    for runtime, rule, gpus in (("openvino", "extract", "0"), ("tensorflow", "extract_gpu", "1")):
        plan = run_snakemake(tmp_path / runtime, job_config(runtime), "-n", "--cores", "2",
                             "results/features/efficientnetv2_b0.parquet")
        assert plan.returncode == 0, plan.stderr[-2000:]
        extract_job = plan.stdout.split(f"rule {rule}:")[1].split("rule merge_features:")[0]
        assert re.search(r"resources: .*\bgpu=(\d+)", extract_job).group(1) == gpus, runtime


@needs_openvino
def test_an_openvino_job_runs_on_the_cpu_and_records_its_runtime(openvino_job):
    workdir, config = openvino_job
    path = workdir / "results/features/efficientnetv2_b0.parquet"
    meta = read_metadata(path)
    assert (meta["runtime"], meta["precision"], meta["mixed_precision"]) == ("openvino", "f32", "false")
    assert meta["device"].startswith('{"kind": "cpu", "name": ') and '"openvino": "2026.4.1"' in meta["versions"]
    assert '"runtime": "openvino"' in meta["provenance"] and '"precision": "f32"' in meta["provenance"]
    log = (workdir / "logs/extract/efficientnetv2_b0/0-of-1.log").read_text()
    assert "running on cpu" in log and "openvino f32" in log
    # The same features as the TensorFlow path on the same files, weights and seed.
    sample = pd.read_parquet(workdir / "results/manifest/sample.parquet")
    spec = config["backbones"]["efficientnetv2_b0"]
    model = build_backbone(spec, spec["input_size"], seed=config["extract"]["seed"])
    expected = extract_features(image_paths(sample, workdir / "resources/demo_crawl"), model, spec["input_size"],
                                spec["batch_size"], 2)
    assert relative_error(expected, features_matrix(pq.read_table(path))) < 1e-5
