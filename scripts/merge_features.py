import json

import pyarrow.parquet as pq

from pinclass.atomic import read_metadata, read_table, write_parquet
from pinclass.feature_tables import merge_shards
from pinclass.rule_io import start


def what_made_it(stamp: dict) -> dict:
    """A shard's stamp without the git state, which records the checkout, not the computation, and
    without the device: shards may run on different GPU models of one partition."""
    provenance = json.loads(stamp["provenance"])
    provenance.pop("git")
    return {key: value for key, value in stamp.items() if key != "device"} | {"provenance": provenance}


log = start(snakemake)
sample = read_table(snakemake.input.sample)
shards = [pq.read_table(path) for path in snakemake.input.shards]
stamps = [read_metadata(path) for path in snakemake.input.shards]
if any(what_made_it(stamp) != what_made_it(stamps[0]) for stamp in stamps):
    raise ValueError(f"feature shards were made differently: {stamps}")
merged = merge_shards(sample["image_id"], [t.replace_schema_metadata(None) for t in shards])
devices = sorted({stamp["device"] for stamp in stamps})
device = devices[0] if len(devices) == 1 else "[" + ", ".join(devices) + "]"  # each shard's, when they differ
write_parquet(merged, snakemake.output[0], stamps[0] | {"device": device})
log.info("%d shards → %d rows in sample order", len(shards), merged.num_rows)
