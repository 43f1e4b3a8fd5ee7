from pathlib import Path

import pyarrow.parquet as pq

from pinclass.atomic import read_table, replace_atomically
from pinclass.board_evaluation import boards_markdown, boards_table, evaluate_cell
from pinclass.plots import board_curve_plot
from pinclass.rule_io import start

log = start(snakemake)
params, output = snakemake.params, snakemake.output
sample = read_table(snakemake.input.sample)
cells = {}
for path in snakemake.input.predictions:  # results/predictions/{backbone}/{classifier}.parquet, {ensemble}/ensemble
    cells[Path(path).parent.name, Path(path).stem] = evaluate_cell(pq.read_table(path), sample, params.categories,
                                                                   params.seed, params.draws)
table = boards_table(cells)
text = boards_markdown(cells, params.group_by, params.draws)
replace_atomically(output.csv, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
replace_atomically(output.md, lambda tmp: Path(tmp).write_text(text))
board_curve_plot(table, output.png)  # and output.pdf beside it
log.info("boards:\n%s", text)
