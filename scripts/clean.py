import json

import pandas as pd

from pinclass.atomic import read_table, write_json, write_parquet
from pinclass.cleaning import merge_checks
from pinclass.near_duplicates import Rule
from pinclass.provenance import as_metadata, provenance
from pinclass.rule_io import params_dict, start

log = start(snakemake)
inputs, output = snakemake.input, snakemake.output
checks = pd.concat([read_table(path) for path in inputs.checks], ignore_index=True)
with open(inputs.summary) as f:
    ingest_summary = json.load(f)
clean, rejected, summary = merge_checks(read_table(inputs.raw), checks, read_table(inputs.rejected), ingest_summary,
                                       snakemake.params.near_duplicates, Rule(**snakemake.params.near_duplicate_rule))
record = provenance(params_dict(snakemake), inputs={"raw": inputs.raw, "ingest_rejected": inputs.rejected})
write_parquet(rejected, output.rejected, as_metadata(record))
write_json(summary | {"provenance": record}, output.summary)
write_parquet(clean, output.clean, as_metadata(record))
log.info("clean %d, rejected %d by reason %s", len(clean), len(rejected), summary["rejected_by_reason"])
if summary["duplicate_conflicts"]:
    log.warning("%d images appear under more than one category (clean_summary.json: duplicate_conflicts)",
                len(summary["duplicate_conflicts"]))
near = summary["near_duplicates"]
log.info("near-duplicates (%s): %d groups of %d images, %d across categories; %s", near["rule"],
         near["groups"], near["images"], near["across_categories"], near["mode"])
