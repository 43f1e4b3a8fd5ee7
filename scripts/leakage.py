import json
from pathlib import Path

from pinclass.atomic import read_table, replace_atomically
from pinclass.leakage import cell_without_near_copies, clear_of_near_copies, leakage_markdown
from pinclass.rule_io import start
from pinclass.table import weights_note

log = start(snakemake)
params, inputs = snakemake.params, snakemake.input
nearest = dict(zip(params.backbones, map(read_table, inputs.nearest)))
common = clear_of_near_copies(nearest, params.threshold)
cells, sources = {}, []
for predictions, score_path in zip(inputs.predictions, inputs.scores):
    score = json.loads(Path(score_path).read_text())
    sources.append(score["provenance"]["weights"]["source"])
    cells[score["backbone"], score["classifier"]] = cell_without_near_copies(
        read_table(predictions), nearest[score["backbone"]], params.threshold, params.categories, common)
text = leakage_markdown(nearest, cells, params.threshold, weights_note(sources))
replace_atomically(snakemake.output[0], lambda tmp: Path(tmp).write_text(text))
log.info("leakage:\n%s", text)
