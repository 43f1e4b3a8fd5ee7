import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pinclass.atomic import read_metadata, read_table, replace_atomically, write_parquet
from pinclass.feature_tables import features_matrix
from pinclass.pin_predictions import board_predictions, check_extraction, pins_table, summary_markdown
from pinclass.provenance import as_metadata, provenance
from pinclass.rule_io import params_dict, start
from pinclass.saved_models import load_model

log = start(snakemake)
inputs, output, params = snakemake.input, snakemake.output, snakemake.params
model = load_model(Path(inputs.model).parent)
clean = read_table(inputs.clean)
features = {Path(path).stem: features_matrix(pq.read_table(path)) for path in inputs.features}
check_extraction(model, {Path(path).stem: json.loads(read_metadata(path)["extraction"])[0]
                         for path in inputs.features})
predicted, probabilities = model.predict(features)
pins = pins_table(clean, predicted, probabilities, model.labels, params.top)
boards = board_predictions(pins, probabilities, model.labels)
choice = json.loads(Path(inputs.best).read_text()) if "best" in inputs.keys() else None
record = provenance(params_dict(snakemake), inputs={"model": inputs.model, "arrays": inputs.arrays,
                                                   "clean": inputs.clean, **dict(zip(features, inputs.features))})
metadata = as_metadata(record)
write_parquet(pa.Table.from_pandas(boards, preserve_index=False), output.boards, metadata)
write_parquet(pa.Table.from_pandas(pins, preserve_index=False), output.pins, metadata)
text = summary_markdown(snakemake.wildcards.name, model, choice, json.loads(Path(inputs.summary).read_text()), pins,
                        boards)
replace_atomically(output.summary, lambda tmp: Path(tmp).write_text(text))
log.info("%s: %d pins, %d boards predicted by %s", snakemake.wildcards.name, len(pins), len(boards),
         model.document["cell"])
