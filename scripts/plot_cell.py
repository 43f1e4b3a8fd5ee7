import json

from pinclass.plots import confusion_plot, per_class_f1_plot
from pinclass.rule_io import start

log = start(snakemake)
with open(snakemake.input[0]) as f:
    score = json.load(f)
per_class_f1_plot(score, snakemake.output.per_class)
confusion_plot(score, snakemake.output.confusion)
log.info("plotted %s", snakemake.input[0])
