from pathlib import Path

from pinclass.rule_io import start
from pinclass.weights import fetch_weights

log = start(snakemake)
path = fetch_weights(snakemake.params.backbone, Path(snakemake.output[0]).parent)
log.info("verified %s", path)
