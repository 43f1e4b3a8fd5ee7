import time

from pinclass.atomic import write_parquet
from pinclass.cleaning import check_rows, read_shard
from pinclass.rule_io import start

log = start(snakemake)
params = snakemake.params
rows = read_shard(snakemake.input.raw, int(snakemake.wildcards.shard), int(snakemake.wildcards.n))
began = time.perf_counter()
checks = check_rows(rows, params.root, params.categories, params.exclude, params.min_size, params.max_pixels,
                    snakemake.threads)
elapsed = time.perf_counter() - began
write_parquet(checks, snakemake.output[0])
log.info("checked %d images with %d threads in %.1f s (%.0f img/s); rejected %d",
         len(rows), snakemake.threads, elapsed, len(rows) / max(elapsed, 1e-9), checks["reason"].notna().sum())
