from pathlib import Path

from pinclass.rule_io import start
from pinclass.weights import WeightsFile, fetch_weights

log = start(snakemake)
weights = snakemake.params.weights
path = fetch_weights(WeightsFile.from_entry(weights), weights["backbone"], Path(snakemake.output[0]).parent)
log.info("verified %s", path)
