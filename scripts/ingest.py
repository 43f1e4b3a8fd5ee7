from pinclass.atomic import write_json, write_parquet
from pinclass.ingest import ingest
from pinclass.provenance import as_metadata, provenance
from pinclass.rule_io import params_dict, start

log = start(snakemake)
output = snakemake.output
raw, rejected, summary = ingest(snakemake.params.data, snakemake.params.get("labelled", True))
manifest = snakemake.params.data.get("manifest")  # a crawl's own state is in params: the listing hash
metadata = as_metadata(provenance(params_dict(snakemake), inputs={"manifest": manifest} if manifest else {}))
write_parquet(rejected, output.rejected, metadata)
write_json(summary, output.summary)
write_parquet(raw, output.raw, metadata)
log.info("%d image files listed, %d rejected at ingest; %s", len(raw), len(rejected), summary)
