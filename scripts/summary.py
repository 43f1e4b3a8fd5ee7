import json
from pathlib import Path

from pinclass.atomic import replace_atomically
from pinclass.rule_io import start
from pinclass.summary import summary_markdown

log = start(snakemake)
inputs = snakemake.input
pages = (inputs.table, inputs.leakage, inputs.comparison, inputs.boards)
text = summary_markdown(json.loads(Path(inputs.clean).read_text()), json.loads(Path(inputs.sample).read_text()),
                        *(Path(path).read_text() for path in pages))
replace_atomically(snakemake.output[0], lambda tmp: Path(tmp).write_text(text))
log.info("summary: %d lines", text.count("\n"))
