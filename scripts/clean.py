import json

import pandas as pd

from pinclass.atomic import read_table, write_json, write_parquet
from pinclass.cleaning import merge_checks
from pinclass.provenance import provenance
from pinclass.rule_io import params_dict, start

log = start(snakemake)
inp, out = snakemake.input, snakemake.output
checks = pd.concat([read_table(path) for path in inp.checks], ignore_index=True)
with open(inp.summary) as f:
    ingest_summary = json.load(f)
clean, rejected, summary = merge_checks(read_table(inp.raw), checks, read_table(inp.rejected), ingest_summary)
record = provenance(params_dict(snakemake), inputs={"raw": inp.raw, "ingest_rejected": inp.rejected})
meta = {"provenance": json.dumps(record, sort_keys=True)}
write_parquet(rejected, out.rejected, meta)
write_json(summary | {"provenance": record}, out.summary)
write_parquet(clean, out.clean, meta)
log.info("clean %d, rejected %d by reason %s", len(clean), len(rejected), summary["rejected_by_reason"])
if summary["duplicate_conflicts"]:
    log.warning("%d images appear under more than one category (clean_summary.json: duplicate_conflicts)",
                len(summary["duplicate_conflicts"]))
