from pinclass.atomic import read_table, write_parquet
from pinclass.provenance import as_metadata, provenance
from pinclass.rule_io import params_dict, start
from pinclass.sampling import resplit

log = start(snakemake)
settings, repeat = snakemake.params.sample, int(snakemake.wildcards.repeat)
sample = resplit(read_table(snakemake.input[0]), len(snakemake.params.categories), settings["test_fraction"],
                 settings["folds"], settings["seed"], repeat, settings["group_by"])
record = provenance(params_dict(snakemake), inputs={"sample": snakemake.input[0]},
                    seeds={"sample": settings["seed"], "repeat": repeat})
write_parquet(sample, snakemake.output[0], as_metadata(record))
log.info("repeat %d: %s", repeat, sample["split"].value_counts().to_dict())
