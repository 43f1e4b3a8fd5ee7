import json

import pyarrow.parquet as pq

from pinclass.atomic import read_metadata, read_table, write_parquet
from pinclass.feature_tables import concat_features
from pinclass.provenance import as_metadata, library_versions, provenance, read_provenance, weights_source
from pinclass.rule_io import params_dict, start

log = start(snakemake)
members, paths = snakemake.params.members, list(snakemake.input.members)
stamps = [read_metadata(path) for path in paths]
fused = concat_features(read_table(snakemake.input.sample)["image_id"], [pq.read_table(path) for path in paths])
records = [read_provenance(path) for path in paths]
weights = {"source": weights_source(records),
           "members": {member: record["weights"] for member, record in zip(members, records)}}
record = provenance(params_dict(snakemake), inputs={"sample": snakemake.input.sample} | dict(zip(members, paths)),
                    weights=weights, seeds={member: record["seeds"] for member, record in zip(members, records)})
metadata = {
    "backbone": snakemake.wildcards.fused,
    "members": json.dumps(members),
    "input_size": json.dumps([json.loads(stamp["input_size"]) for stamp in stamps]),
    "weights": "random" if weights["source"] == "random" else "+".join(stamp["weights"] for stamp in stamps),
    "weights_sha256": "+".join(stamp["weights_sha256"] for stamp in stamps),
    "dim": fused.column("features").type.list_size,
    "extraction": json.dumps([entry for stamp in stamps for entry in json.loads(stamp["extraction"])], sort_keys=True),
    "versions": json.dumps(library_versions(), sort_keys=True),
} | as_metadata(record)
write_parquet(fused, snakemake.output[0], metadata)
log.info("%s = concat(%s): %d rows × %d", snakemake.wildcards.fused, ", ".join(members), fused.num_rows,
         metadata["dim"])
