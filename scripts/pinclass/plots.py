"""Per-cell figures for the report: per-class F1 and the confusion matrix of one (backbone, classifier)."""

import numpy as np

from pinclass.atomic import replace_atomically


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    replace_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None}))
    _pyplot().close(fig)


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
