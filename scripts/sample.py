from pinclass.atomic import read_table, write_parquet
from pinclass.provenance import as_metadata, provenance
from pinclass.rule_io import params_dict, start
from pinclass.sampling import draw_sample

log = start(snakemake)
settings = snakemake.params.sample
sample = draw_sample(read_table(snakemake.input.clean), snakemake.params.categories, settings["per_category"],
                     settings["test_fraction"], settings["folds"], settings["seed"], settings["allow_fewer"])
record = provenance(params_dict(snakemake), inputs={"clean": snakemake.input.clean}, seeds={"sample": settings["seed"]})
write_parquet(sample, snakemake.output[0], as_metadata(record))
log.info("sample: %d images, %s", len(sample), sample["split"].value_counts().to_dict())
