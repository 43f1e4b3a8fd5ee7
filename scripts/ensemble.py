import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pinclass.atomic import write_json, write_parquet
from pinclass.ensembles import soft_vote
from pinclass.feature_tables import vector_column
from pinclass.provenance import provenance, sha256_file, weights_source
from pinclass.rule_io import params_dict, start
from pinclass.saved_models import ensemble_description, save_ensemble
from pinclass.scoring import score_predictions
from pinclass.uncertainty import UNITS, predictions_ci

log = start(snakemake)
began = time.perf_counter()
params, inputs, output = snakemake.params, snakemake.input, snakemake.output
predictions, probabilities = soft_vote([pq.read_table(path) for path in inputs.predictions])
members = []
for path in inputs.scores:
    with open(path) as f:
        members.append(json.load(f))
result = {
    "backbone": snakemake.wildcards.ensemble,
    "classifier": "ensemble",
    "members": params.cells,
    **score_predictions(predictions["label"].to_numpy(), predictions["predicted"].to_numpy(), params.categories),
    "labels": list(params.categories),
    "n_train": members[0]["n_train"],
    "n_test": len(predictions),
    "macro_f1_ci": predictions_ci(predictions, len(params.categories), **params.uncertainty,
                                  unit=UNITS[params.group_by]),
}
write_parquet(pa.Table.from_pandas(predictions, preserve_index=False)
              .append_column("probabilities", vector_column(probabilities)), output.predictions)
record = provenance(params_dict(snakemake), inputs=dict(zip(params.cells, inputs.predictions)),
                    seeds={cell: member["provenance"]["seeds"] for cell, member in zip(params.cells, members)},
                    weights={"source": weights_source(member["provenance"] for member in members)})
record["outputs"] = {"predictions": {"path": output.predictions, "sha256": sha256_file(output.predictions)}}
save_ensemble(Path(output.model).parent, [Path(path).parent for path in inputs.models],
              ensemble_description(snakemake.wildcards.ensemble, result, record))
record["outputs"]["model"] = {"path": output.model, "sha256": sha256_file(output.model)}
write_json(result | {"provenance": record, "timings": {"total_s": round(time.perf_counter() - began, 3)}},
           output.scores)
log.info("%s = soft vote of %s: test macro F1 %.4f", snakemake.wildcards.ensemble, ", ".join(params.cells),
         result["macro_f1"])
