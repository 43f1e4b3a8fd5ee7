import json

from pinclass.plots import confusion_plot, per_class_f1_plot
from pinclass.rule_io import start

log = start(snakemake)
cells = list(snakemake.input)
# outputs: per cell its F1-per-category then its confusion PNG (rules/common.smk get_cell_figures), then the PDFs,
# which the plots write beside each PNG
pngs = list(snakemake.output)[:2 * len(cells)]
for path, per_class, confusion in zip(cells, pngs[0::2], pngs[1::2], strict=True):
    with open(path) as f:
        score = json.load(f)
    per_class_f1_plot(score, per_class)
    confusion_plot(score, confusion)
log.info("plotted %d cells", len(cells))
