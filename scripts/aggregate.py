import json
from pathlib import Path

from pinclass.atomic import read_table, replace_atomically
from pinclass.rule_io import start
from pinclass.plots import heatmap
from pinclass.table import (build_table, pairwise_markdown, paper_comparison, repeat_table, repeats_markdown,
                            row_weights, to_csv, to_latex, to_markdown, weights_note)
from pinclass.uncertainty import UNITS, pairwise_table, repeats_comparison

log = start(snakemake)
params, output = snakemake.params, snakemake.output
scores, intervals, predictions, sources = {}, {}, {}, {}
for path, predictions_path in zip(snakemake.input.scores, snakemake.input.predictions):
    with open(path) as f:
        score = json.load(f)
    cell = score["backbone"], score["classifier"]
    predictions[cell] = read_table(predictions_path)
    scores[cell] = score["macro_f1"]
    test_to_train = score["n_test"] / score["n_train"]
    intervals[cell] = score["macro_f1_ci"]["low"], score["macro_f1_ci"]["high"]
    sources[cell] = score["provenance"]["weights"]["source"]
note = weights_note(sources.values())
table = build_table(scores, params.backbones, params.classifiers, params.ensembles)
splits = {(b, c): [scores[b, c]] for b in params.backbones for c in params.classifiers}
for path in snakemake.input.repeats:  # repeats 1 … R-1, in order
    score = json.loads(Path(path).read_text())
    splits[score["backbone"], score["classifier"]].append(score["macro_f1"])
repeats = repeat_table(splits)
bootstrap = params.uncertainty
if len(predictions) > 1:
    pairwise = pairwise_table(predictions, len(params.categories), n_boot=bootstrap["n_boot"], seed=bootstrap["seed"],
                              level=bootstrap["level"], unit=UNITS[params.group_by])
    pairwise_md, pairwise_csv = pairwise_markdown(pairwise), pairwise.to_csv(index=False, float_format="%.6f")
else:
    pairwise_md, pairwise_csv = "Only one cell: nothing to compare.\n", "best,other\n"
if len(splits) > 1 and params.repeats > 1:
    across = repeats_comparison(splits, test_to_train, bootstrap["level"])
    pairwise_md += "\n" + repeats_markdown(across)
    repeats_csv = across.to_csv(index=False, float_format="%.6f")
else:
    repeats_csv = "best,other\n"
shown = intervals if params.table["intervals"] else None
for path, text in ((output.csv, to_csv(table, row_weights(sources))),
                   (output.md, to_markdown(table, note, shown, repeats)), (output.tex, to_latex(table, note, shown, repeats)),
                   (output.repeats, repeats.to_csv(index=False, float_format="%.6f")),
                   (output.comparison, paper_comparison(table, len(params.categories), params.paper, note)),
                   (output.pairwise, (f"> **{note}**\n\n" if note else "") + pairwise_md),
                   (output.pairwise_csv, pairwise_csv), (output.pairwise_repeats, repeats_csv)):
    replace_atomically(path, lambda tmp, text=text: Path(tmp).write_text(text))
heatmap(table, output.png, note, params.paper)  # and output.pdf beside it
log.info("table:\n%s", to_markdown(table, note))
