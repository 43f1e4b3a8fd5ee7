import json

from pinclass.atomic import write_json, write_parquet
from pinclass.ingest import ingest
from pinclass.provenance import provenance
from pinclass.rule_io import params_dict, start

log = start(snakemake)
out = snakemake.output
raw, rejected, summary = ingest(snakemake.params.data)
manifest = snakemake.params.data["manifest"]  # a crawl's own state is in params: the listing hash
inputs = {"manifest": manifest} if manifest else {}
meta = {"provenance": json.dumps(provenance(params_dict(snakemake), inputs=inputs), sort_keys=True)}
write_parquet(rejected, out.rejected, meta)
write_json(summary, out.summary)
write_parquet(raw, out.raw, meta)
log.info("%d image files listed, %d rejected at ingest; %s", len(raw), len(rejected), summary)
