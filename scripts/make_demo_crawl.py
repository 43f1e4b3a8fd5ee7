from pinclass.demo_crawl import make_demo_crawl
from pinclass.rule_io import start

log = start(snakemake)
p = snakemake.params
make_demo_crawl(snakemake.output[0], p.categories, p.excluded, p.images_per_category, p.seed, p.size)
log.info("demo crawl written to %s", snakemake.output[0])
