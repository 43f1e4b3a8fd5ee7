from pinclass.atomic import read_table, write_json, write_parquet
from pinclass.near_duplicates import Rule
from pinclass.provenance import as_metadata, provenance
from pinclass.rule_io import params_dict, start
from pinclass.sampling import draw_sample, split_summary

log = start(snakemake)
settings, categories = snakemake.params.sample, snakemake.params.categories
sample = draw_sample(read_table(snakemake.input.clean), categories, settings["per_category"],
                     settings["test_fraction"], settings["folds"], settings["seed"], settings["allow_fewer"],
                     settings["group_by"])
record = provenance(params_dict(snakemake), inputs={"clean": snakemake.input.clean}, seeds={"sample": settings["seed"]})
write_parquet(sample, snakemake.output.sample, as_metadata(record))
summary = split_summary(sample, categories, settings["test_fraction"], settings["group_by"],
                        Rule(**snakemake.params.near_duplicate_rule))
write_json(summary, snakemake.output.summary)
log.info("sample: %d images, %s", len(sample), sample["split"].value_counts().to_dict())
if summary["outside_tolerance"]:
    log.warning("test share more than %.0f points from %.2f (whole groups): %s", 100 * summary["tolerance"],
                settings["test_fraction"], {c: summary["categories"][c]["test_share"]
                                            for c in summary["outside_tolerance"]})
