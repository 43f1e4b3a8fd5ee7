import json
import os

import keras
import tensorflow as tf

from pinclass.atomic import read_table, write_parquet
from pinclass.backbones import build_backbone
from pinclass.cleaning import shard_rows
from pinclass.extraction import configure_threads, extract_features, features_table, image_paths
from pinclass.provenance import library_versions, provenance
from pinclass.rule_io import params_dict, start
from pinclass.weights import verify_weights

log = start(snakemake)
p, backbone = snakemake.params, snakemake.wildcards.backbone
sample = shard_rows(read_table(snakemake.input.sample), int(snakemake.wildcards.shard), int(snakemake.wildcards.n))
configure_threads(snakemake.threads)

if p.weights == "random":
    weights_path, weights = None, {"source": "random", "seed": p.seed}
else:  # ImageNet: fetched into resources/weights/ or pre-staged in a folder; verified either way
    weights_path = snakemake.input.weights
    weights = verify_weights(weights_path, backbone) | {"source": p.weights}
gpus = tf.config.list_physical_devices("GPU")
log.info("GPUs visible: %d (CUDA_VISIBLE_DEVICES=%s)", len(gpus), os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
mixed = p.mixed_precision and bool(gpus)
if p.mixed_precision and not mixed:
    log.warning("extract.mixed_precision is set but no GPU is visible: running in float32")
if mixed:
    keras.mixed_precision.set_global_policy("mixed_float16")

model = build_backbone(backbone, p.input_size, weights_path, seed=p.seed if weights_path is None else None)
log.info("%s at %d px, weights %s, %d images in batches of %d, %d threads, policy %s", backbone, p.input_size,
         weights, len(sample), p.batch_size, snakemake.threads, keras.mixed_precision.global_policy().name)
features = extract_features(image_paths(sample, p.root), model, p.input_size, p.batch_size, snakemake.threads, log)

record = provenance(params_dict(snakemake), inputs={"sample": snakemake.input.sample}, weights=weights,
                    seeds={"weights": p.seed} if weights_path is None else {})
metadata = {
    "backbone": backbone,
    "input_size": p.input_size,
    "weights": "random" if weights_path is None else ("imagenet" if p.weights == "imagenet" else str(weights_path)),
    "weights_sha256": weights.get("sha256", ""),
    "dim": features.shape[1],
    "mixed_precision": json.dumps(mixed),
    "versions": json.dumps(library_versions(), sort_keys=True),
    "provenance": json.dumps(record, sort_keys=True),
}
write_parquet(features_table(sample["image_id"], features), snakemake.output[0], metadata)
