"""The RBF-kernel SVM (classifiers.svm_rbf) at the paper's size: exact libsvm vs the Nyström
approximation + the one-vs-rest linear SVM, one fit each, in one run.

Synthetic class-structured features shaped like one backbone's (benchmarks/classify_full_size.py:
25,600 train × 1024 dims, 6,400 test, 32 classes), rows L2-normalised as `scaling: l2` does, one
grid point (C, gamma). For each training size in --sizes: the wall time of one fit of each method
(each in a child process stopped at --cap seconds), its test macro F1, and the share of test images
both methods classify alike. The whole svm_rbf step is 5 folds × the grid + refit = 46 such fits.

    PYTHONPATH=scripts .venv/bin/python benchmarks/svm_rbf_full_size.py --sizes 3200 6400 12800 25600 --cap 1500
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from classify_full_size import fmt_s, make_features, run_capped  # noqa: E402


def _fit(conn, X, y, split, method, C, gamma, n_components, seed):
    from sklearn.metrics import f1_score

    from pinclass.estimators import RBFSVC

    train, test = split == "train", split == "test"
    began = time.perf_counter()
    model = RBFSVC(C=C, gamma=gamma, method=method, n_components=n_components, random_state=seed).fit(X[train],
                                                                                                     y[train])
    seconds = time.perf_counter() - began
    predicted = model.predict(X[test])
    conn.send({"seconds": seconds, "macro_f1": float(f1_score(y[test], predicted, average="macro")),
               "predicted": predicted, **model.fit_info()})
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3200, 6400, 12800, 25600])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=32)
    parser.add_argument("--C", type=float, default=10.0)
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--n-components", type=int, default=2048)
    parser.add_argument("--cap", type=float, default=1500.0, help="seconds after which one fit is stopped")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"# C={args.C:g}, gamma={args.gamma:g}, Nyström n_components={args.n_components}, {args.dim} dims, "
          f"{args.classes} classes, rows L2-normalised; one fit each, cap {args.cap:.0f} s\n")
    print("| train rows | exact fit | exact macro F1 | Nyström fit | Nyström macro F1 | exact / Nyström | "
          "same test prediction |")
    print("|---|---|---|---|---|---|---|")
    for n_train in args.sizes:
        X, y, split = make_features(n_train, n_train // 4, args.dim, args.classes, args.seed)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        runs = {method: run_capped(_fit, (X, y, split, method, args.C, args.gamma, args.n_components, args.seed),
                                   args.cap) for method in ("exact", "nystroem")}
        cells = []
        for method in ("exact", "nystroem"):
            r = runs[method]
            cells += ([f"> {fmt_s(args.cap)} (stopped)", "—"] if "capped" in r else
                      [fmt_s(r["seconds"]), f"{r['macro_f1']:.3f}"])
        exact, nystroem = runs["exact"], runs["nystroem"]
        ratio = (f"{exact['seconds'] / nystroem['seconds']:.1f}" if "capped" not in exact else
                 f"> {args.cap / nystroem['seconds']:.1f}")
        same = (f"{np.mean(exact['predicted'] == nystroem['predicted']):.1%}" if "predicted" in exact else "—")
        print(f"| {n_train:,} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | {ratio} | {same} |", flush=True)


if __name__ == "__main__":
    main()
