"""The paper's Table 4.1 layout: backbones × classifiers of test macro F1, with row and column means."""

import numpy as np
import pandas as pd


RANDOM_WEIGHTS_NOTE = ("Features from RANDOM weights (config weights: random): these numbers show the machinery "
                       "works and say nothing about ImageNet features.")


def weights_note(sources) -> str | None:
    """The note every text page opens with when any of its cells' weights `sources` is random."""
    return RANDOM_WEIGHTS_NOTE if "random" in set(sources) else None


def build_table(macro_f1: dict, backbones: list[str], classifiers: list[str], ensembles=()) -> pd.DataFrame:
    """macro_f1[(backbone, classifier)] → rows per backbone, a column per classifier, `mean` row and column,
    in the order given (config order; classifiers in the schema's order, see config.validate_config).
    Each ensemble is one more row whose only cell is in the `ensemble` column; means skip empty cells."""
    wanted = [(b, c) for b in backbones for c in classifiers] + [(e, "ensemble") for e in ensembles]
    missing = [cell for cell in wanted if cell not in macro_f1]
    if missing:
        raise ValueError(f"no score for {missing}")
    rows, columns = list(backbones) + list(ensembles), list(classifiers) + (["ensemble"] if ensembles else [])
    return _with_means(pd.DataFrame([[macro_f1.get((r, c), np.nan) for c in columns] for r in rows],
                                    index=pd.Index(rows, name="backbone"), columns=columns, dtype=float))


def _with_means(cells: pd.DataFrame) -> pd.DataFrame:
    """A `mean` column and row (of the filled cells), the (mean, mean) cell empty."""
    table = cells.assign(mean=cells.mean(axis=1))
    table.loc["mean"] = list(cells.mean(axis=0)) + [np.nan]
    return table


def paper_table(table: pd.DataFrame, paper: dict) -> pd.DataFrame | None:
    """The paper's values (`paper[backbone][classifier]`, Table 4.1) in `table`'s rows and columns,
    with means of the values it has; None when it has none of them."""
    rows, columns = list(table.index.drop("mean")), list(table.columns.drop("mean"))
    cells = pd.DataFrame([[paper.get(r, {}).get(c, np.nan) for c in columns] for r in rows],
                         index=pd.Index(rows, name="backbone"), columns=columns, dtype=float)
    return None if cells.isna().all().all() else _with_means(cells)


def _bold_positions(table: pd.DataFrame) -> set:
    """The best cell, the best row mean and the best column mean."""
    cells = table.drop(index="mean", columns="mean")
    best_cell = np.unravel_index(np.nanargmax(cells.to_numpy()), cells.shape)
    return {(cells.index[best_cell[0]], cells.columns[best_cell[1]]),
            (table["mean"].drop("mean").idxmax(), "mean"),
            ("mean", table.loc["mean"].drop("mean").idxmax())}


def repeat_table(values: dict) -> pd.DataFrame:
    """values[(backbone, classifier)] → its macro F1 on each split (the sample's first): one row per
    cell with the number of splits, the single-split value, and mean and sd (ddof 1) over the splits."""
    rows = [{"backbone": backbone, "classifier": classifier, "repeats": len(f1), "single_split": f1[0],
             "mean": float(np.mean(f1)), "sd": float(np.std(f1, ddof=1)) if len(f1) > 1 else np.nan}
            for (backbone, classifier), f1 in values.items()]
    return pd.DataFrame(rows, columns=["backbone", "classifier", "repeats", "single_split", "mean", "sd"])


def _formatted(table: pd.DataFrame, bold, intervals: dict | None = None,
               repeats: pd.DataFrame | None = None) -> list[list[str]]:
    spread = {} if repeats is None else {(r.backbone, r.classifier): (r.mean, r.sd)
                                         for r in repeats.itertuples() if r.repeats > 1}
    rows = []
    for backbone in table.index:
        row = [backbone]
        for column in table.columns:
            value = table.loc[backbone, column]
            text = "" if pd.isna(value) else f"{value:.3f}"
            if text and intervals and (backbone, column) in intervals:
                low, high = intervals[backbone, column]
                text += f" [{low:.3f}, {high:.3f}]"
            text = bold(text) if text and (backbone, column) in _bold_positions(table) else text
            if (backbone, column) in spread:
                text += " · {:.3f} ± {:.3f}".format(*spread[backbone, column])
            row.append(text)
        rows.append(row)
    return rows


def _repeats_sentence(repeats: pd.DataFrame | None) -> str:
    if repeats is None or not (repeats["repeats"] > 1).any():
        return ""
    return (f"After · : mean ± sd of the cell's macro F1 over {int(repeats['repeats'].max())} splits of the same "
            "images (results/repeats.csv); whether two cells differ: pairwise.md.")


def to_markdown(table: pd.DataFrame, note: str | None = None, intervals: dict | None = None,
                repeats: pd.DataFrame | None = None) -> str:
    header = ["features", *table.columns]
    lines = [f"> **{note}**", ""] if note else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in _formatted(table, lambda t: f"**{t}**", intervals, repeats)]
    sentence = _repeats_sentence(repeats)
    return "\n".join(lines + (["", sentence] if sentence else [])) + "\n"


def to_latex(table: pd.DataFrame, note: str | None = None, intervals: dict | None = None,
             repeats: pd.DataFrame | None = None) -> str:
    """The table as a paper prints it (needs \\usepackage{booktabs}): booktabs rules in a `table`
    float with caption and label, every text LaTeX-escaped by pandas' Styler, the best cell and
    best means in bold, a rule above the means. A note (random weights) is the first line, as a
    comment, and the caption's last sentence."""
    rows = _formatted(table, lambda text: text, intervals, repeats)
    frame = pd.DataFrame(rows, columns=["features", *table.columns])
    bold = _bold_positions(table)

    def emphasis(column):
        return ["textbf:--rwrap;" if (frame.loc[i, "features"], column.name) in bold and text else ""
                for i, text in column.items()]

    caption = " ".join(part for part in (
        "Test macro F1 of each backbone's features (rows) with each classifier (columns), with row and column means"
        + (" and each cell's bootstrap interval" if intervals else "") + "; the best cell and the best means in bold.",
        _repeats_sentence(repeats), note) if part)
    styler = (frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
              .apply(emphasis, axis=0))
    lines = styler.to_latex(environment="table", position_float="centering", hrules=True,
                            column_format="l" + "r" * len(table.columns), caption=caption,
                            label="tab:macro-f1").splitlines()
    lines.insert(next(i for i, line in enumerate(lines) if line.startswith("mean &")), r"\midrule")
    return "\n".join(([f"% {note}"] if note else []) + lines) + "\n"


def row_weights(sources: dict) -> dict:
    """sources[(row, column)] → the weights source of each cell; per table row, its cells' sources
    ('+'-joined where they differ), and for the `mean` row those of every cell."""
    rows: dict = {}
    for (row, _), source in sources.items():
        rows.setdefault(row, set()).add(source)
    joined = {row: "+".join(sorted(found)) for row, found in rows.items()}
    return joined | {"mean": "+".join(sorted(set(sources.values())))}


def to_csv(table: pd.DataFrame, weights: dict) -> str:
    """The table as plain CSV (any reader's first line is the header), with a `weights` column after
    `backbone`: the weights source of each row's features (`row_weights`), where the Markdown and
    LaTeX say it in a first-line note."""
    frame = table.reset_index().rename(columns={"index": "backbone"})
    frame.insert(1, "weights", [weights[row] for row in frame["backbone"]])
    return frame.to_csv(index=False, float_format="%.6f")


def paper_comparison(table: pd.DataFrame, n_classes: int, paper: dict, note: str | None = None) -> str:
    """Each cell beside the paper's value (`paper[backbone][classifier]`, from the backbones' config
    entries) and the chance level 1/n_classes."""
    chance = 1.0 / n_classes
    lines = [f"> **{note}**", ""] if note else []
    lines += [f"Chance level (1/{n_classes} classes): {chance:.3f}.", "",
              "| features | classifier | this run | paper | this run − paper | above chance |", "|---|---|---|---|---|---|"]
    cells = table.drop(index="mean", columns="mean")
    for backbone in cells.index:
        for classifier in cells.columns:
            ours = cells.loc[backbone, classifier]
            if pd.isna(ours):
                continue
            theirs = paper.get(backbone, {}).get(classifier)
            paper_text, diff = ("—", "—") if theirs is None else (f"{theirs:.3f}", f"{ours - theirs:+.3f}")
            lines.append(f"| {backbone} | {classifier} | {ours:.3f} | {paper_text} | {diff} | "
                         f"{'yes' if ours > chance else 'no'} |")
    return "\n".join(lines) + "\n"


def _p_text(p: float, n_boot: int | None, bootstrap: bool, factor: int = 1) -> str:
    """A p-value; a bootstrap p of 0 as its resolution bound (× Holm's largest factor when adjusted)."""
    if bootstrap and p == 0 and n_boot:
        return f"<{factor / n_boot:.3g}"
    return f"{p:.3g}"


def pairwise_markdown(df: pd.DataFrame) -> str:
    """The pairwise table as Markdown: a one-line explanation, then one row per other cell."""
    attrs = df.attrs
    n_boot, level = attrs.get("n_boot"), attrs.get("level", 0.95)
    best = df["best"].iloc[0] if len(df) else "?"
    best_f1 = f" (macro F1 {attrs['best_macro_f1']:.3f})" if "best_macro_f1" in attrs else ""
    details = ", ".join(part for part in (f"n_boot={n_boot}" if n_boot else "",
                                          f"seed={attrs['seed']}" if "seed" in attrs else "",
                                          f"{attrs['n_images']} test images" if "n_images" in attrs else "")
                        if part)
    unit = attrs.get("unit", "image")
    independence = ("" if unit == "image" else f" and treats images as independent, which pins of one {unit} are "
                    "not: read the bootstrap")
    header = (f"Best cell {best}{best_f1} vs every other cell: diff = test macro F1 of best − other, "
              f"with its {level:.0%} paired bootstrap interval over test {unit}s resampled within each category"
              f"{f' ({details})' if details else ''} and the two-sided bootstrap p-value; McNemar's exact p "
              f"on per-image correctness is a test of accuracy, not of macro F1{independence}. Both p-values are also "
              f"Holm-adjusted for the {len(df)} comparisons (p_holm, mcnemar_p_holm); significant = "
              f"p_holm < {1 - level:.2g}. The best cell was chosen on these same test images, which favours "
              f"it: read its lead as an upper estimate.")
    lines = [header, "", "| best | other | diff | low | high | p_value | p_holm | mcnemar_p | mcnemar_p_holm "
             "| significant |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in df.itertuples(index=False):
        lines.append(f"| {row.best} | {row.other} | {row.diff:.3f} | {row.low:.3f} | {row.high:.3f} | "
                     f"{_p_text(row.p_value, n_boot, True)} | {_p_text(row.p_holm, n_boot, True, len(df))} | "
                     f"{_p_text(row.mcnemar_p, n_boot, False)} | {_p_text(row.mcnemar_p_holm, n_boot, False)} | "
                     f"{'yes' if row.significant else 'no'} |")
    return "\n".join(lines) + "\n"


def repeats_markdown(df: pd.DataFrame) -> str:
    """The comparison across repeated splits (`uncertainty.repeats_comparison`) as Markdown."""
    attrs = df.attrs
    level = attrs["level"]
    header = (f"Across the {attrs['splits']} splits of the same images (`repeats`): the cell with the best mean "
              f"({df['best'].iloc[0]}, {attrs['best_mean']:.3f}) vs every other, mean_diff = mean over the splits "
              f"of best − other, with its {level:.0%} interval and p-value from Nadeau and Bengio's corrected "
              f"resampled t-test (variance × (1/splits + n_test/n_train = {attrs['test_to_train']:.3g}): the "
              f"splits share most training images, so their scores move together and overlapping mean ± sd "
              f"ranges decide nothing either way), Holm-adjusted over the {len(df)} rows (p_holm); "
              f"significant = p_holm < {1 - level:.2g}.")
    lines = [header, "", "| best | other | mean_diff | low | high | t | p_value | p_holm | significant |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.best} | {r.other} | {r.mean_diff:.3f} | {r.low:.3f} | {r.high:.3f} | {r.t:.2f} | "
              f"{r.p_value:.3g} | {r.p_holm:.3g} | {'yes' if r.significant else 'no'} |" for r in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"
