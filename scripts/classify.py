import json

import pandas as pd
import pyarrow.parquet as pq

from pinclass.atomic import read_metadata, read_table, write_json, write_parquet
from pinclass.classifiers import evaluate
from pinclass.joining import features_for_sample
from pinclass.provenance import provenance, sha256_file
from pinclass.rule_io import params_dict, start
from pinclass.uncertainty import bootstrap_ci

log = start(snakemake)
p, inp, out = snakemake.params, snakemake.input, snakemake.output
backbone, classifier = snakemake.wildcards.backbone, snakemake.wildcards.classifier
sample = read_table(inp.sample)
features = features_for_sample(sample, pq.read_table(inp.features), p.categories)
result, predicted = evaluate(classifier, features, sample["label"].to_numpy(), sample["split"].to_numpy(),
                             sample["fold"].to_numpy(), p.categories, p.settings, p.seed, n_jobs=snakemake.threads)

test = sample[sample["split"] == "test"]
predictions = pd.DataFrame({"image_id": test["image_id"].to_numpy(), "label": test["label"].to_numpy(),
                            "predicted": predicted}).astype({"image_id": "string", "label": "int32",
                                                             "predicted": "int32"})
by_id = predictions.sort_values("image_id")  # resamples independent of row order (uncertainty.bootstrap_cis)
u = p.uncertainty
result["macro_f1_ci"] = bootstrap_ci(by_id["label"].to_numpy(), by_id["predicted"].to_numpy(), len(p.categories),
                                     n_boot=u["n_boot"], seed=u["seed"], level=u["level"])
stamp = read_metadata(inp.features)
weights = json.loads(stamp["provenance"])["weights"]
sample_seed = json.loads(read_metadata(inp.sample)["provenance"])["seeds"]
record = provenance(params_dict(snakemake), inputs={"features": inp.features, "sample": inp.sample},
                    seeds={"classifier": p.seed, **sample_seed, **json.loads(stamp["provenance"])["seeds"]},
                    weights=weights | {"features_input_size": int(stamp["input_size"])})
write_parquet(predictions, out.predictions)
record["outputs"] = {"predictions": {"path": out.predictions, "sha256": sha256_file(out.predictions)}}
write_json({"backbone": backbone, **result, "provenance": record}, out.scores)
log.info("%s/%s: test macro F1 %.4f, best %s, warnings %d", backbone, classifier, result["macro_f1"],
         result["best_params"], len(result["warnings"]))
