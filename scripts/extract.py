import sys

from pinclass.gpu_slots import assign
from pinclass.rule_io import params_dict, start
from pinclass.shards import shard_rows

log = start(snakemake)
# Before TensorFlow starts: CUDA reads CUDA_VISIBLE_DEVICES once. On a workstation with declared
# GPU slots this job takes GPUs of its own; under SLURM the variable is SLURM's.
claimed = assign(snakemake.resources.get("gpu", 0))
if claimed is not None:
    log.info("GPU slots claimed: CUDA_VISIBLE_DEVICES=%r", claimed)

import json  # noqa: E402

import keras  # noqa: E402

from pinclass import devices  # noqa: E402
from pinclass.atomic import read_table, write_parquet  # noqa: E402
from pinclass.backbones import build_backbone  # noqa: E402
from pinclass.extraction import (ChunkStore, configure_threads, extract_resumable, extraction_entry,  # noqa: E402
                                 image_paths)
from pinclass.feature_tables import features_table  # noqa: E402
from pinclass.provenance import as_metadata, code_sha256, library_versions, provenance  # noqa: E402
from pinclass.runtimes import UnsupportedPrecision, make_runner  # noqa: E402
from pinclass.weights import WeightsFile, verify_weights  # noqa: E402

params, backbone, wildcards = snakemake.params, snakemake.wildcards.backbone, snakemake.wildcards
spec = params.backbone  # the backbone's config entry: model, preprocess, input_size, batch_size, weights
device = devices.settle(devices.extraction_policy(params.device, params.runtime), log, rule=snakemake.rule)
build = devices.build_info()

sample = shard_rows(read_table(snakemake.input.sample), int(wildcards.shard), int(wildcards.n))
configure_threads(snakemake.threads)
if params.weights == "random":
    weights_path, weights = None, {"source": "random", "seed": params.seed}
else:  # ImageNet: fetched into resources/weights/ or pre-staged in a folder; verified either way
    weights_path = snakemake.input.weights
    weights = verify_weights(weights_path, WeightsFile.from_entry(spec["weights"]), backbone) | {"source": params.weights}
mixed = params.mixed_precision and device["kind"] == "gpu"
if params.mixed_precision and not mixed:
    log.warning("extract.mixed_precision is set but no GPU is visible: running in float32")
if mixed:
    keras.mixed_precision.set_global_policy("mixed_float16")

size, batch_size = spec["input_size"], spec["batch_size"]
model = build_backbone(spec, size, weights_path, seed=params.seed if weights_path is None else None)
try:
    runner = make_runner(params.runtime, model, batch_size, params.precision, snakemake.threads)
except UnsupportedPrecision as error:
    log.error("%s", error)
    sys.exit(1)
log.info("%s (%s) at %d px, weights %s, %d images in batches of %d, %d threads, %s %s, policy %s", backbone,
         spec["model"], size, weights, len(sample), batch_size, snakemake.threads, params.runtime, params.precision,
         keras.mixed_precision.global_policy().name)
# beside the shards: results/features/resume/{backbone}/{shard}-of-{n} (a prediction set's under its folder)
store = ChunkStore(snakemake.output[0].replace("/shards/", "/resume/").removesuffix(".parquet"),
                   {"backbone": backbone, "params": params_dict(snakemake), "weights": weights, "device": device,
                    "code": code_sha256(), "versions": library_versions(), "build": build})
features = extract_resumable(image_paths(sample, params.root), list(sample["image_id"]), list(sample["sha256"]),
                             runner, size, batch_size, snakemake.threads,
                             snakemake.resources.get("chunk_size", 512), store, log)

record = provenance(params_dict(snakemake), inputs={"sample": snakemake.input.sample}, weights=weights,
                    seeds={"weights": params.seed} if weights_path is None else {})
metadata = {
    "backbone": backbone,
    "model": spec["model"],
    "input_size": size,
    "weights": "random" if weights_path is None else ("imagenet" if params.weights == "imagenet" else str(weights_path)),
    "weights_sha256": weights.get("sha256", ""),
    "dim": features.shape[1],
    "mixed_precision": json.dumps(mixed),
    "runtime": params.runtime,
    "precision": params.precision,
    "device": json.dumps(device, sort_keys=True),
    "extraction": json.dumps([extraction_entry(backbone, spec, weights, features.shape[1], params.runtime,
                                               params.precision, mixed)], sort_keys=True),
    "tensorflow_build": json.dumps(build, sort_keys=True),
    "versions": json.dumps(library_versions(), sort_keys=True),
} | as_metadata(record)
write_parquet(features_table(sample["image_id"], features), snakemake.output[0], metadata)
store.clear()
