"""The linear SVM at the paper's full size: the batched solver against liblinear, scalings, the grid.

Synthetic features shaped like one backbone's (default: 25,600 train × 1024 dims, 6,400 test,
32 balanced classes). Rows imitate ConvNeXt's pooled output after its final LayerNorm: a class
signal plus correlated (low-rank) and isotropic noise, standardised per row, then a per-dimension
scale and offset; rows have norm ≈ 32.

1. The same fit (one LinearSVC, one C, all train rows) with each scaling, each in a child process
   with a wall-clock cap; a fit that runs past the cap is stopped and reported as such.
2. With --solvers: the two solvers of `classifiers.lsvm.solver` on the rows of fold 0's training
   set (the problems the grid solves), L2-normalised, at every C of the grid: wall time of each
   (batched cold, and warm-started along the C path as the workflow runs it), the relative
   objective gap per class against a tightly converged reference (the batched solver at tol 1e-10;
   its own gap is certified below ‖∇f‖²/2, f being 1-strongly convex), and the share of identical
   predictions on the test rows.
3. With --full-grid: the whole LSVM step as the workflow runs it — `evaluate("lsvm", ...)`, 5 folds
   × the C grid + refit, scaling "l2" — once per solver in --grid-solvers, timed, with the
   convergence record, and the ratio of the two.

Quick run:  PYTHONPATH=scripts .venv/bin/python benchmarks/lsvm_full_size.py --n-train 6400 --dim 256 --cap 120
Full size:  PYTHONPATH=scripts .venv/bin/python benchmarks/lsvm_full_size.py --ways "" --solvers --full-grid --n-jobs 2
"""

import argparse
import multiprocessing as mp
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

def make_features(n_train, n_test, dim, n_classes, seed, signal=0.12, rank=32, target_norm=None):
    """Class-structured rows shaped like LayerNorm'd CNN features (norm ≈ sqrt(dim))."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = np.arange(n) % n_classes
    prototypes = rng.normal(0, 1, (n_classes, dim))
    mixing = rng.normal(0, 1, (rank, dim))
    z = signal * prototypes[y]
    z += rng.normal(0, 1, (n, rank)) @ mixing * (1.0 / np.sqrt(rank)) * 2.0  # correlated nuisance
    z += rng.normal(0, 1, (n, dim))
    z = (z - z.mean(axis=1, keepdims=True)) / z.std(axis=1, keepdims=True)  # LayerNorm
    x = z * rng.lognormal(0, 0.3, dim) + rng.normal(0, 0.3, dim)            # its gamma, beta
    x *= (target_norm or np.sqrt(dim)) / np.linalg.norm(x, axis=1).mean()
    order = rng.permutation(n)
    x, y = x[order].astype(np.float32), y[order]
    split = np.where(np.arange(n) < n_train, "train", "test")
    return x, y, split


def stratified_folds(y, split, k, seed):
    rng = np.random.default_rng(seed)
    fold = np.full(len(y), -1)
    for label in np.unique(y):
        rows = np.flatnonzero((split == "train") & (y == label))
        fold[rng.permutation(rows)] = np.arange(len(rows)) % k
    return fold


def _one_fit(conn, X, y, split, scaling, C, max_iter, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler
    from sklearn.svm import LinearSVC

    scaler = {"l2": Normalizer(), "standard": StandardScaler(), "none": "passthrough"}[scaling]
    model = make_pipeline(scaler, LinearSVC(C=C, max_iter=max_iter, random_state=seed))
    train, test = split == "train", split == "test"
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X[train], y[train])
    seconds = time.perf_counter() - t
    n_iter = int(np.max(model[-1].n_iter_))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    f1 = f1_score(y[test], model.predict(X[test]), average="macro")
    conn.send({"seconds": seconds, "n_iter": n_iter, "converged": converged, "macro_f1": float(f1)})
    conn.close()


def run_capped(function, args, cap):
    """`function(conn, *args)` in a forked child that sends one dict on `conn`; that dict, or
    {'capped': cap} if it ran past `cap` seconds."""
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=function, args=(send, *args))
    started = time.perf_counter()
    child.start()
    send.close()
    ready = receive.poll(cap)
    if not ready:
        child.terminate()
        child.join()
        return {"capped": cap, "seconds": time.perf_counter() - started}
    try:
        result = receive.recv()
    except EOFError:  # the child died without an answer
        result = {"failed": f"exit code {child.exitcode}", "seconds": time.perf_counter() - started}
    child.join()
    return result


def compare_solvers(X, y, split, fold, grid, n_classes, n_jobs):
    """Section 2: per C on fold 0's training rows, both solvers against a tight reference."""
    from sklearn.preprocessing import Normalizer
    from threadpoolctl import threadpool_limits

    from pinclass.estimators import OvRLinearSVC

    train, test = (split == "train") & (fold != 0), split == "test"
    Xn = Normalizer().fit_transform(X).astype(np.float64)
    X_train, y_train, X_test = Xn[train], y[train], Xn[test]
    classes = np.arange(n_classes)

    def objective(model, C):
        Y = np.where(y_train[:, None] == classes[None, :], 1.0, -1.0)
        slack = np.maximum(0.0, 1.0 - Y * (X_train @ model.coef_.T + model.intercept_))
        return 0.5 * ((model.coef_ ** 2).sum(axis=1) + model.intercept_ ** 2) + C * (slack ** 2).sum(axis=0)

    print(f"\n## Solvers, one fit per C on fold 0's training rows ({len(y_train):,} rows), L2-normalised, "
          f"{n_jobs} BLAS threads for batched, liblinear one thread per class in sequence (its own)\n")
    print("| C | liblinear | batched (cold) | batched (warm path) | liblinear / warm | max gap liblinear "
          "| max gap batched cold | max gap batched warm | reference certified gap | same test predictions "
          "(batched warm vs liblinear) | Newton iterations / CG steps (warm) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    totals = {"liblinear": 0.0, "cold": 0.0, "warm": 0.0}
    warm = OvRLinearSVC(solver="batched", warm_start=True)
    with threadpool_limits(limits=n_jobs):
        for C in sorted(grid):
            t = time.perf_counter()
            liblinear = OvRLinearSVC(C=C, solver="liblinear", random_state=0).fit(X_train, y_train)
            t_lib = time.perf_counter() - t
            t = time.perf_counter()
            cold = OvRLinearSVC(C=C, solver="batched").fit(X_train, y_train)
            t_cold = time.perf_counter() - t
            t = time.perf_counter()
            warm.set_params(C=C).fit(X_train, y_train)
            t_warm = time.perf_counter() - t
            iterations, cg_steps = int(warm.n_iter_.max()), int(warm.solution_.cg_steps.max())
            reference = OvRLinearSVC(C=C, solver="batched", tol=1e-10).fit(X_train, y_train)
            best = objective(reference, C)
            certified = float(np.max(reference.solution_.gradient_norm ** 2 / 2 / best))
            gaps = {name: float(np.max((objective(m, C) - best) / best))
                    for name, m in (("liblinear", liblinear), ("cold", cold), ("warm", warm))}
            same = float(np.mean(warm.predict(X_test) == liblinear.predict(X_test)))
            totals["liblinear"] += t_lib
            totals["cold"] += t_cold
            totals["warm"] += t_warm
            print(f"| {C:g} | {fmt_s(t_lib)} | {fmt_s(t_cold)} | {fmt_s(t_warm)} | {t_lib / t_warm:.1f} "
                  f"| {gaps['liblinear']:.1e} | {gaps['cold']:.1e} | {gaps['warm']:.1e} | {certified:.0e} "
                  f"| {same:.2%} | {iterations} / {cg_steps} |", flush=True)
    print(f"| all | {fmt_s(totals['liblinear'])} | {fmt_s(totals['cold'])} | {fmt_s(totals['warm'])} "
          f"| {totals['liblinear'] / totals['warm']:.1f} | | | | | | |")


def fmt_s(seconds):
    return f"{seconds:,.1f} s" if seconds < 120 else f"{seconds:,.0f} s ({seconds / 60:.1f} min)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=25600)
    parser.add_argument("--n-test", type=int, default=None, help="default: n_train / 4")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--C", type=float, default=1.0, help="C of the single-fit comparison")
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--cap", type=float, default=600.0,
                        help="wall-clock seconds after which a single fit is stopped")
    parser.add_argument("--ways", default="l2,standard", help="scalings to compare, comma-separated")
    parser.add_argument("--solvers", action="store_true",
                        help="compare the batched solver with liblinear per C: time, objective gap, predictions")
    parser.add_argument("--full-grid", action="store_true",
                        help="also time evaluate('lsvm') with the 5-fold × C grid + refit, scaling l2")
    parser.add_argument("--grid-solvers", default="batched,liblinear", help="solvers for --full-grid")
    parser.add_argument("--grid", default="0.01,0.1,1,10,100", help="C grid for --full-grid")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2, help="threads for the grid (the rule's threads)")
    parser.add_argument("--dual", default="adaptive", choices=["adaptive", "auto", "true", "false"],
                        help="liblinear's solver choice for --full-grid (classifiers.lsvm.dual)")
    args = parser.parse_args(argv)
    n_test = args.n_test if args.n_test is not None else args.n_train // 4

    import sklearn
    command = "PYTHONPATH=scripts " + shlex.join([sys.executable.replace(os.getcwd() + "/", ""),
                                                  *sys.argv])
    t = time.perf_counter()
    X, y, split = make_features(args.n_train, n_test, args.dim, args.classes, args.seed)
    norms = np.linalg.norm(X, axis=1)
    print(f"# LinearSVC benchmark\n\ncommand: `{command}`\n")
    print(f"data: {args.n_train:,} train + {n_test:,} test rows × {args.dim} dims, {args.classes} classes, "
          f"row norm {norms.mean():.1f} ± {norms.std():.1f}, made in {time.perf_counter() - t:.1f} s; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, scikit-learn {sklearn.__version__}\n")

    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    if ways:
        print(f"## One fit: sklearn LinearSVC(C={args.C:g}, max_iter={args.max_iter}), its default solver "
              f"(dual='auto': primal here), one thread, cap {args.cap:g} s per fit\n")
        print("| scaling | wall time | iterations | converged | test macro F1 |")
        print("|---|---|---|---|---|")
    timings = {}
    for way in ways:
        r = run_capped(_one_fit, (X, y, split, way, args.C, args.max_iter, args.seed), args.cap)
        timings[way] = r
        if "failed" in r:
            print(f"| {way} | failed ({r['failed']}) | – | – | – |", flush=True)
        elif "capped" in r:
            print(f"| {way} | did not finish within {args.cap:g} s (stopped) | – | – | – |", flush=True)
        else:
            print(f"| {way} | {fmt_s(r['seconds'])} | {r['n_iter']} | {'yes' if r['converged'] else 'NO'} "
                  f"| {r['macro_f1']:.3f} |", flush=True)
    if "l2" in timings and not {"capped", "failed"} & set(timings["l2"]):
        base = timings["l2"]["seconds"]
        for way, r in timings.items():
            if way == "l2":
                continue
            if "failed" in r:
                continue
            if "capped" in r:
                print(f"\nratio {way} / l2: > {args.cap / base:.1f} (lower bound: {way} stopped at the cap)")
            else:
                print(f"\nratio {way} / l2: {r['seconds'] / base:.1f}")

    grid = [float(c) if "." in c or "e" in c else int(c) for c in args.grid.split(",")]
    fold = stratified_folds(y, split, args.folds, args.seed)
    if args.solvers:
        compare_solvers(X, y, split, fold, grid, args.classes, args.n_jobs)
    if args.full_grid:
        from pinclass.grid_search import evaluate

        dual = {"true": True, "false": False}.get(args.dual, args.dual)
        names = [f"class_{i:02d}" for i in range(args.classes)]
        totals = {}
        for solver in [s.strip() for s in args.grid_solvers.split(",") if s.strip()]:
            settings = {"grid": {"C": grid}, "scaling": "l2", "max_iter": args.max_iter, "dual": dual,
                        "solver": solver}
            print(f"\n## Whole LSVM step, solver {solver}: evaluate('lsvm'), {args.folds} folds × {len(grid)} C "
                  f"+ refit, scaling l2, n_jobs={args.n_jobs}\n", flush=True)
            result, _ = evaluate("lsvm", X, y, split, fold, names, settings, seed=args.seed, n_jobs=args.n_jobs)
            tm = result["timings"]
            totals[solver] = tm["total_s"]
            print("| C | mean CV macro F1 | std | max iterations over folds |")
            print("|---|---|---|---|")
            for row in result["cv"]["results"]:
                print(f"| {row['params']['C']:g} | {row['mean_macro_f1']:.4f} | {row['std_macro_f1']:.4f} "
                      f"| {max(row['fold_n_iter'])} |")
            conv = [w for w in result["warnings"] if w["category"] == "ConvergenceWarning"]
            print(f"\n| figure | value |\n|---|---|")
            print(f"| grid search ({args.folds * len(grid)} fits) | {fmt_s(tm['grid_search_s'])} |")
            print(f"| refit (C={result['best_params']['C']:g}) | {fmt_s(tm['refit_s'])} |")
            print(f"| predict | {fmt_s(tm['predict_s'])} |")
            print(f"| total | {fmt_s(tm['total_s'])} |")
            print(f"| test macro F1 | {result['macro_f1']:.4f} |")
            print(f"| convergence warnings | {len(conv)} |")
            print(f"| other warnings | {len(result['warnings']) - len(conv)} |", flush=True)
        if {"batched", "liblinear"} <= set(totals):
            print(f"\nliblinear / batched, whole step: {totals['liblinear'] / totals['batched']:.1f}")


if __name__ == "__main__":
    main()
