import json
import os
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pinclass import devices
from pinclass.atomic import read_metadata, read_table, write_json, write_parquet
from pinclass.feature_tables import vector_column
from pinclass.gpu_slots import assign
from pinclass.grid_search import evaluate
from pinclass.joining import features_for_sample
from pinclass.provenance import provenance, read_provenance, sha256_file
from pinclass.rule_io import params_dict, start
from pinclass.saved_models import cell_description, save_model
from pinclass.sampling import group_keys
from pinclass.uncertainty import UNITS, predictions_ci

log = start(snakemake)
params, inputs, output = snakemake.params, snakemake.input, snakemake.output
backbone, classifier = snakemake.wildcards.backbone, snakemake.wildcards.classifier
# Before TensorFlow starts (only the NN imports it): a job that asked for a GPU takes a local GPU
# slot's or SLURM's and stops if TensorFlow cannot use it; a job that asked for none sees none.
claimed = assign(snakemake.resources.get("gpu", 0))
if claimed:
    log.info("GPU slots claimed: CUDA_VISIBLE_DEVICES=%r", claimed)
policy = devices.classifier_policy(params.settings)
if policy == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    device = {"kind": "cpu", "name": devices.cpu_name()}
    log.info("running on cpu: %s", device["name"])
else:
    device = devices.settle(policy, log, key=f"classifiers.{classifier}.device", rule="classify_gpu")
device["threads"] = snakemake.threads  # KNN's choice among exactly tied neighbours depends on it

sample = read_table(inputs.sample)
features = features_for_sample(sample, pq.read_table(inputs.features), params.categories)
groups = None if params.group_by == "none" else group_keys(sample, params.group_by)
result, predicted, probabilities, fitted = evaluate(
    classifier, features, sample["label"].to_numpy(), sample["split"].to_numpy(), sample["fold"].to_numpy(),
    params.categories, params.settings, params.seed, n_jobs=snakemake.threads, return_probabilities=True,
    return_fitted=True, groups=groups)

test = sample["split"].to_numpy() == "test"
predictions = pd.DataFrame({"image_id": sample["image_id"].to_numpy()[test], "label": sample["label"].to_numpy()[test],
                            "predicted": predicted,
                            "unit": sample["image_id"].to_numpy()[test] if groups is None else groups[test]}).astype(
    {"image_id": "string", "label": "int32", "predicted": "int32", "unit": "string"})
result["macro_f1_ci"] = predictions_ci(predictions, len(params.categories), **params.uncertainty,
                                       unit=UNITS[params.group_by])
stamp = read_metadata(inputs.features)
features_record = read_provenance(inputs.features)
record = provenance(params_dict(snakemake), inputs={"features": inputs.features, "sample": inputs.sample},
                    seeds={"classifier": params.seed, **read_provenance(inputs.sample)["seeds"],
                           **features_record["seeds"]},
                    weights=features_record["weights"]
                    | {"features_input_size": json.loads(stamp["input_size"])})
write_parquet(pa.Table.from_pandas(predictions, preserve_index=False)
              .append_column("probabilities", vector_column(probabilities)), output.predictions)
record["outputs"] = {"predictions": {"path": output.predictions, "sha256": sha256_file(output.predictions)}}
if hasattr(output, "model"):  # the main split's cells (not the repeats')
    began = time.perf_counter()
    save_model(Path(output.model).parent, fitted,
               cell_description(backbone, result, json.loads(stamp["extraction"]), record))
    result["timings"]["save_model_s"] = round(time.perf_counter() - began, 3)
    record["outputs"]["model"] = {"path": output.model, "sha256": sha256_file(output.model)}
write_json({"backbone": backbone, **result, "device": device, "provenance": record}, output.scores)
log.info("%s/%s: test macro F1 %.4f, best %s, warnings %d", backbone, classifier, result["macro_f1"],
         result["best_params"], len(result["warnings"]))
