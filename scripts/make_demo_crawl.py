from pinclass.demo_crawl import make_demo_crawl
from pinclass.rule_io import start

log = start(snakemake)
params = snakemake.params
make_demo_crawl(snakemake.output[0], params.categories, params.excluded, params.images_per_category, params.seed,
                params.size, labelled=params.get("labelled", True))
log.info("demo crawl written to %s", snakemake.output[0])
