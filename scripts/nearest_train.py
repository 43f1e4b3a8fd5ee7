import pyarrow.parquet as pq

from pinclass.atomic import read_table, write_parquet
from pinclass.joining import features_for_sample
from pinclass.leakage import nearest_table
from pinclass.provenance import as_metadata, provenance
from pinclass.rule_io import params_dict, start

log = start(snakemake)
sample = read_table(snakemake.input.sample)
features = features_for_sample(sample, pq.read_table(snakemake.input.features), snakemake.params.categories)
table = nearest_table(sample, features)
record = provenance(params_dict(snakemake), inputs={"features": snakemake.input.features,
                                                    "sample": snakemake.input.sample})
write_parquet(table, snakemake.output[0], as_metadata(record))
log.info("%s: nearest training image of %d test images, similarity median %.3f, max %.3f",
         snakemake.wildcards.backbone, len(table), table["similarity"].median(), table["similarity"].max())
