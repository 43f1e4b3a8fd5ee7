import json

from pinclass.atomic import read_table, write_parquet
from pinclass.provenance import provenance
from pinclass.rule_io import params_dict, start
from pinclass.sampling import draw_sample

log = start(snakemake)
s = snakemake.params.sample
sample = draw_sample(read_table(snakemake.input.clean), snakemake.params.categories, s["per_category"],
                     s["test_fraction"], s["folds"], s["seed"], s["allow_fewer"])
record = provenance(params_dict(snakemake), inputs={"clean": snakemake.input.clean}, seeds={"sample": s["seed"]})
write_parquet(sample, snakemake.output[0], {"provenance": json.dumps(record, sort_keys=True)})
log.info("sample: %d images, %s", len(sample), sample["split"].value_counts().to_dict())
