"""The figures, each as PNG (the report) and PDF (a paper): the table's heatmap, per cell the F1 per
category and the confusion matrix, and the board accuracy curve. Both files are byte-identical when
redrawn."""

from pathlib import Path

import numpy as np

from pinclass.atomic import replace_atomically
from pinclass.table import paper_table


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# No creation date or software version in the files: a redraw gives the same bytes.
_METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}


def _save(fig, path) -> None:
    """`path` (PNG) and the same figure beside it as PDF, cropped to what is drawn."""
    for kind in ("png", "pdf"):
        target = Path(path).with_suffix(f".{kind}")
        replace_atomically(target, lambda tmp, kind=kind: fig.savefig(
            tmp, format=kind, dpi=110, metadata=_METADATA[kind], bbox_inches="tight", pad_inches=0.05))
    _pyplot().close(fig)


def heatmap(table, path, note: str | None = None, paper: dict | None = None) -> None:
    """The table as a heatmap of test macro F1 and, where `paper` holds any of its cells (Table 4.1),
    the paper's values as a second panel on the same colour scale."""
    plt = _pyplot()
    panels = [("this run", table)]
    theirs = paper_table(table, paper or {})
    if theirs is not None:
        panels.append(("paper (Table 4.1)", theirs))
    top = max(float(np.nanmax(values.to_numpy(dtype=float))) for _, values in panels) or 1e-9
    cell = 0.6  # inches: square cells, the figure sized to them (no margin to crop)
    fig, axes = plt.subplots(1, len(panels), squeeze=False, layout="constrained",
                             figsize=(1.5 + len(panels) * (cell * len(table.columns) + 0.2) + 0.8,
                                      cell * len(table.index) + 1.2))
    for ax, (title, values) in zip(axes[0], panels):
        grid = values.to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=top)
        ax.set_xticks(range(len(values.columns)), values.columns, fontsize=8)
        ax.set_yticks(range(len(values.index)), values.index if ax is axes[0][0] else [], fontsize=8)
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=7,
                        color="white" if value < top * 0.6 else "black")
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.046, pad=0.02)
    fig.suptitle("Test macro F1" + ("\n(random weights: not ImageNet features)" if note else ""), fontsize=10)
    _save(fig, path)


def per_class_f1_plot(score: dict, path) -> None:
    """Horizontal bars of test F1 per category, with the cell's macro F1 and the chance level marked."""
    plt = _pyplot()
    labels = score["labels"]
    f1 = [score["per_class"][name]["f1"] for name in labels]
    fig, ax = plt.subplots(figsize=(6, 0.22 * len(labels) + 1.2))
    ax.barh(range(len(labels)), f1, color="#4c72b0")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(score["macro_f1"], color="black", linestyle="--", linewidth=1, label=f"macro F1 {score['macro_f1']:.3f}")
    ax.axvline(1 / len(labels), color="grey", linestyle=":", linewidth=1, label=f"chance {1 / len(labels):.3f}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("test F1")
    ax.set_title(f"{score['backbone']} / {score['classifier']}: F1 per category", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save(fig, path)


def confusion_plot(score: dict, path) -> None:
    """Row-normalised confusion matrix (rows: true category), so each row shows where its images went."""
    plt = _pyplot()
    labels = score["labels"]
    matrix = np.asarray(score["confusion_matrix"], dtype=float)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 0.22 * len(labels) + 2
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{score['backbone']} / {score['classifier']}: confusion (share of each true category)", fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    _save(fig, path)


def board_curve_plot(table, path) -> None:
    """Board accuracy against the test pins used per board (results/boards.csv), one line per cell on a
    log2 axis, coloured by backbone and dashed by classifier (a dozen cells outrun one colour cycle); the
    "all" point sits one step right of the last n, where the curve flattens or not."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    counts = [int(n) for n in table.loc[table["pins"] != "all", "pins"].unique()]
    ticks = counts + [2 * counts[-1]]
    backbones = table["backbone"].unique()
    palette = plt.get_cmap("tab10" if len(backbones) <= 10 else "tab20")  # tab20 pairs hues: only when needed
    colour = {name: palette(i % palette.N) for i, name in enumerate(backbones)}
    dashes = {name: ["-", "--", ":", "-."][i % 4] for i, name in enumerate(table["classifier"].unique())}
    cells = table.groupby("cell", sort=False)
    for cell, rows in cells:
        backbone, classifier = rows[["backbone", "classifier"]].iloc[0]
        ax.plot(ticks, rows["accuracy"], marker="o", markersize=3, linewidth=1, color=colour[backbone],
                linestyle=dashes[classifier], label=cell)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(n) for n in counts] + ["all"])
    ax.minorticks_off()
    ax.set_ylim(0, 1)
    ax.set_xlabel("test pins used per board (a board with fewer uses all of its own)")
    ax.set_ylabel("board accuracy")
    ax.set_title("Board accuracy against the pins used", fontsize=9)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=1 + len(cells) // 25)
    fig.tight_layout()
    _save(fig, path)
