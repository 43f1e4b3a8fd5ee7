from pathlib import Path

from pinclass.atomic import replace_atomically
from pinclass.rule_io import start

log = start(snakemake)
replace_atomically(snakemake.output[0], lambda tmp: Path(tmp).write_text(snakemake.params.packages))
log.info("wrote %s", snakemake.output[0])
