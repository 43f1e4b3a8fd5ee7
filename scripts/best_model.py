import json
from pathlib import Path

from pinclass.atomic import write_json
from pinclass.cell_choice import best_cell
from pinclass.rule_io import start

log = start(snakemake)
choice = best_cell([json.loads(Path(path).read_text()) for path in snakemake.input])
write_json(choice, snakemake.output[0])
log.info("best cell by cross-validation: %s (%.4f)", choice["cell"], choice["cv_macro_f1"])
