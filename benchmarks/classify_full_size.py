"""The classify stage at the paper's size: every classifier through the workflow's own code, timed.

Synthetic features shaped like one backbone's (default: 25,600 train + 6,400 test rows × 1024 dims,
32 balanced classes). Rows imitate ConvNeXt's pooled output after its final LayerNorm: a class
signal plus correlated (low-rank) and isotropic noise, standardised per row, then a per-dimension
scale and offset; rows have norm ≈ sqrt(dims).

1. Cells (default): for each width in --widths and each classifier in --classifiers, the whole
   classify step as a job runs it — `evaluate(name, ...)` with the schema's settings (the paper's
   grid, 5 folds, refit, predict, calibration), --n-jobs threads, in a process that has not yet
   built the NN's trainer. Per classifier: wall time of the grid, the refit and the rest; per fit;
   the share spent inside the final estimator's fit/predict calls and, for the NN, inside its
   compiled training epochs; epochs run and seconds per epoch by batch size. Then the 18 cells of
   the paper's table projected from these times for the widths of config.yaml's backbones: on 2
   cores (one 2-thread job at a time) and on 32 cores (16 such jobs at once).
2. --nn-ways: the NN's fits on fold 0, one per batch size of the grid, made four ways: Keras `fit`
   with EarlyStopping on a new model per fit, the compiled-epoch trainer shared by the fits with
   Keras' own Adam, the trainer with the fused Adam built anew for every fit, and shared by the fits
   (the workflow now).
3. --lsvm-scalings: one LinearSVC fit (one C, all train rows) per scaling, each in a child process
   with a wall-clock cap; a fit that runs past the cap is stopped and reported as such.
4. --lsvm-solvers: the two solvers of `classifiers.lsvm.solver` on the rows of fold 0's training set,
   L2-normalised, at every C of the grid: wall time of each (batched cold, and warm-started along the
   C path as the workflow runs it), the relative objective gap per class against a tightly
   converged reference (the batched solver at tol 1e-10; its own gap is certified below ‖∇f‖²/2,
   f being 1-strongly convex), and the share of identical predictions on the test rows. With
   --compare-liblinear the whole LSVM step (`evaluate("lsvm", ...)`) also runs with solver
   liblinear: in the cells section when it has the LSVM, else on its own.
   --family picks the synthetic rows of these LSVM comparisons: "own" (the rows above, first
   width), "hard" (`make_hard_features`: --hard-n-train + a quarter as many test rows × --hard-width,
   isotropic Gaussian noise around class centres of norm --hard-separation × the noise's, then
   L2-normalised: no shared low-rank structure for the spectral preconditioner to capture, the
   batched solver's hard case at large C) or "both".

Quick run:  PYTHONPATH=scripts .venv/bin/python benchmarks/classify_full_size.py --n-train 3200 --widths 256
Full size:  PYTHONPATH=scripts .venv/bin/python benchmarks/classify_full_size.py --widths 768,1024,1280,1536 --nn-ways
LSVM, both families:  PYTHONPATH=scripts .venv/bin/python benchmarks/classify_full_size.py --classifiers "" \
    --n-train 12800 --lsvm-solvers --compare-liblinear --family both
"""

import argparse
import contextlib
import heapq
import multiprocessing as mp
import os
import platform
import shlex
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from unittest import mock

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

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


def make_hard_features(n_train, n_test, dim, n_classes, seed, separation=0.35):
    """The LSVM's harder family: class centres of norm `separation` × the noise's expected norm
    (sqrt(dim)) in random directions, plus isotropic Gaussian noise N(0, I), each row then
    L2-normalised. Isotropic, unlike `make_features`' rows: at large C each class's few margin rows
    are spread in every direction, which the batched solver's shared spectral preconditioner
    captures poorly (its hard case). Defaults of the command line: separation 0.35, 768 dims."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = np.arange(n) % n_classes
    centres = rng.normal(0, 1, (n_classes, dim))
    centres *= separation * np.sqrt(dim) / np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[y] + rng.normal(0, 1, (n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
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


def compare_solvers(X, y, split, fold, grid, n_classes, n_jobs, family="own"):
    """Section 4: per C on fold 0's training rows, both solvers against a tight reference."""
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

    print(f"\n## Solvers, {family} family: one fit per C on fold 0's training rows ({len(y_train):,} × "
          f"{X.shape[1]}), L2-normalised, {n_jobs} BLAS threads for batched, liblinear one thread per class in "
          "sequence (its own)\n")
    print("| C | liblinear | batched (cold) | batched (warm path) | liblinear / cold | liblinear / warm "
          "| max gap liblinear | max gap batched cold | max gap batched warm | reference certified gap "
          "| same test predictions (batched warm vs liblinear) | Newton iterations / CG steps (cold; warm) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
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
            print(f"| {C:g} | {fmt_s(t_lib)} | {fmt_s(t_cold)} | {fmt_s(t_warm)} | {t_lib / t_cold:.1f} "
                  f"| {t_lib / t_warm:.1f} | {gaps['liblinear']:.1e} | {gaps['cold']:.1e} | {gaps['warm']:.1e} "
                  f"| {certified:.0e} | {same:.2%} | {int(cold.n_iter_.max())} / {int(cold.solution_.cg_steps.max())}; "
                  f"{iterations} / {cg_steps} |", flush=True)
    print(f"| all | {fmt_s(totals['liblinear'])} | {fmt_s(totals['cold'])} | {fmt_s(totals['warm'])} "
          f"| {totals['liblinear'] / totals['cold']:.1f} | {totals['liblinear'] / totals['warm']:.1f} | | | | | | |")


def compare_steps(X, y, split, fold, n_classes, seed, n_jobs, family):
    """The whole LSVM step (`evaluate`: the schema's grid, 5 folds, refit, predict, calibration)
    with solver batched and with solver liblinear, on one family's rows."""
    from pinclass.grid_search import evaluate

    names = [f"class_{i:02d}" for i in range(n_classes)]
    print(f"\n## The whole LSVM step, {family} family ({int((split == 'train').sum()):,} train + "
          f"{int((split == 'test').sum()):,} test rows × {X.shape[1]}), {n_jobs} threads\n")
    print("| solver | grid | refit | total | best | test macro F1 | refit Newton iterations | warnings |")
    print("|---|---|---|---|---|---|---|---|")
    totals = {}
    for solver in ("batched", "liblinear"):
        result, _ = evaluate("lsvm", X, y, split, fold, names, {"solver": solver}, seed=seed, n_jobs=n_jobs)
        tm = result["timings"]
        totals[solver] = tm["total_s"]
        best = ", ".join(f"{k}={v:g}" for k, v in result["best_params"].items())
        print(f"| {solver} | {fmt_s(tm['grid_search_s'])} | {fmt_s(tm['refit_s'])} | {fmt_s(tm['total_s'])} "
              f"| {best} | {result['macro_f1']:.4f} | {result['refit']['n_iter']} | {len(result['warnings'])} |",
              flush=True)
    print(f"\nliblinear / batched, whole LSVM step ({family} family): {totals['liblinear'] / totals['batched']:.1f}")


def fmt_s(seconds):
    return f"{seconds:,.1f} s" if seconds < 120 else f"{seconds:,.0f} s ({seconds / 60:.1f} min)"


class Clock:
    """Seconds spent inside named parts of the code, each counted at its outermost call (a fit that
    calls predict inside is one call), with the seconds per key of a call (the NN's batch size)."""

    def __init__(self):
        self.seconds, self.calls = defaultdict(float), defaultdict(int)
        self.by_key = defaultdict(lambda: defaultdict(list))
        self._depth = defaultdict(int)

    def wrap(self, part, function, key=None):
        def timed(*args, **kwargs):
            self._depth[part] += 1
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth[part] -= 1
                if not self._depth[part]:
                    elapsed = time.perf_counter() - began
                    self.seconds[part] += elapsed
                    self.calls[part] += 1
                    if key is not None:
                        self.by_key[part][key(*args, **kwargs)].append(elapsed)
        return timed


@contextlib.contextmanager
def instrumented(classifier, settings, seed):
    """Time the final estimator's own calls, and for the NN its trainer's compiled epochs (by batch
    size) and validation passes. Every fit runs in this process (the default classifiers use the
    job's threads themselves); the NN's trainers are dropped first, as a new job has none."""
    from pinclass.classifiers import REGISTRY
    from pinclass.estimators import _TF_STATE, MLPTrainer

    clock = Clock()
    estimator = type(REGISTRY[classifier].build(settings, seed, 1))
    if not REGISTRY[classifier].threads_inside(settings):
        raise SystemExit(f"{classifier}: its fits run in worker processes, which this clock cannot see")
    _TF_STATE.pop("trainers", None)
    initialise = MLPTrainer.__init__

    def init(trainer, *args, **kwargs):
        initialise(trainer, *args, **kwargs)
        trainer.epoch = clock.wrap("epochs", trainer.epoch, key=lambda X, y, order, batch: int(batch))
        trainer.evaluate = clock.wrap("validation", trainer.evaluate)

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(MLPTrainer, "__init__", init))
        for method in ("fit", "predict", "predict_proba", "decision_function"):
            if hasattr(estimator, method):
                stack.enter_context(mock.patch.object(estimator, method,
                                                      clock.wrap("estimator", getattr(estimator, method))))
        yield clock


def run_cell(classifier, X, y, split, fold, settings, seed, n_jobs):
    """One cell as a classify job runs it, timed: (result, clock)."""
    from pinclass.config import classifier_settings
    from pinclass.grid_search import evaluate

    settings = classifier_settings(classifier, settings)
    names = [f"class_{i:02d}" for i in range(int(y.max()) + 1)]
    with instrumented(classifier, settings, seed) as clock:
        result, _ = evaluate(classifier, X, y, split, fold, names, settings, seed=seed, n_jobs=n_jobs)
    return result, clock


def report_cells(width, cells):
    """The cells section's tables for one width."""
    print(f"\n## Cells at width {width}\n")
    print("| classifier | grid | refit | predict + calibration | total | fits | per grid fit | inside estimator "
          "| of it, NN training epochs | outside estimator | best | test macro F1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (result, clock) in cells.items():
        tm = result["timings"]
        fits = sum(len(row["fold_macro_f1"]) for row in result["cv"]["results"])
        rest = tm["total_s"] - tm["grid_search_s"] - tm["refit_s"]
        inside = clock.seconds["estimator"] / tm["total_s"]
        shares = f"{inside:.0%} | {{}} | {1 - inside:.0%}" if clock.calls["estimator"] else "– | {} | –"
        epochs = f"{clock.seconds['epochs'] / tm['total_s']:.0%}" if clock.calls["epochs"] else "–"
        best = ", ".join(f"{k}={v:g}" for k, v in result["best_params"].items())
        print(f"| {name} | {fmt_s(tm['grid_search_s'])} | {fmt_s(tm['refit_s'])} | {fmt_s(rest)} "
              f"| {fmt_s(tm['total_s'])} | {fits} + 1 | {fmt_s(tm['grid_search_s'] / fits)} "
              f"| {shares.format(epochs)} | {best} "
              f"| {result['macro_f1']:.4f} |", flush=True)
    for name, (result, clock) in cells.items():
        if not clock.calls["epochs"]:
            continue
        print(f"\n{name}: training epochs by batch size (grid fits and refit), validation passes "
              f"{fmt_s(clock.seconds['validation'])} in all\n")
        print("| batch size | fits | epochs run per fit (mean, min–max) | epochs | s per epoch |")
        print("|---|---|---|---|---|")
        epochs_per_fit = defaultdict(list)
        for row in result["cv"]["results"]:
            epochs_per_fit[row["params"]["batch_size"]] += row["fold_epochs"]
        epochs_per_fit[result["best_params"]["batch_size"]].append(result["refit"]["epochs"])
        for batch, seconds in sorted(clock.by_key["epochs"].items()):
            runs = epochs_per_fit[batch]
            print(f"| {batch} | {len(runs)} | {np.mean(runs):.1f} ({min(runs)}–{max(runs)}) | {len(seconds)} "
                  f"| {np.median(seconds):.3f} |")


def interpolate(times: dict, width: int) -> tuple[float, str]:
    """A cell's seconds at `width` from those measured at other widths: measured, linear between the
    nearest two, or proportional to the width from the nearest one."""
    if width in times:
        return times[width], "measured"
    known = sorted(times)
    below, above = [w for w in known if w < width], [w for w in known if w > width]
    if below and above:
        lo, hi = below[-1], above[0]
        return times[lo] + (times[hi] - times[lo]) * (width - lo) / (hi - lo), "interpolated"
    nearest = min(known, key=lambda w: abs(w - width))
    return times[nearest] * width / nearest, "scaled"


def project(totals, tf_import_s, classifiers):
    """The paper's 18 cells (config.yaml's backbones × the classifiers) on 2 and 32 cores."""
    backbones = yaml.safe_load((REPO / "config.yaml").read_text())["backbones"]
    print("\n## Projection: the 18 cells of config.yaml\n")
    print("Each cell is one classify job of 2 threads; an NN job also imports TensorFlow "
          f"({tf_import_s:.1f} s, measured once here).\n")
    print("| backbone | width | " + " | ".join(classifiers) + " | cell times |")
    print("|---|---|" + "---|" * len(classifiers) + "---|")
    jobs = []
    for name, entry in backbones.items():
        row, how = [], set()
        for classifier in classifiers:
            seconds, kind = interpolate(totals[classifier], entry["width"])
            seconds += tf_import_s if classifier == "nn" else 0.0
            jobs.append(seconds)
            row.append(fmt_s(seconds))
            how.add(kind)
        print(f"| {name} | {entry['width']} | " + " | ".join(row) + f" | {', '.join(sorted(how))} |")
    slots = [0.0] * 16  # 32 cores, 2 threads per job; longest job first to the least loaded slot
    heapq.heapify(slots)
    for seconds in sorted(jobs, reverse=True):
        heapq.heappush(slots, heapq.heappop(slots) + seconds)
    print(f"\n| machine | all {len(jobs)} cells |\n|---|---|")
    print(f"| 2 cores: one job at a time | {fmt_s(sum(jobs))} |")
    print(f"| 32 cores: 16 jobs at a time (longest first; memory bandwidth shared, not modelled) "
          f"| {fmt_s(max(slots))} |")


class KerasAdam:
    """Keras' own Adam behind the trainer's optimizer interface (the trainer before FusedAdam)."""

    def __init__(self, weights, learning_rate):
        import keras

        self.weights, self.adam = weights, keras.optimizers.Adam(learning_rate=learning_rate)
        self.adam.build(weights)
        self.start = [v.numpy() for v in self.adam.variables]

    def reset(self):
        for variable, value in zip(self.adam.variables, self.start, strict=True):
            variable.assign(value)

    def apply(self, gradients):
        self.adam.apply(gradients, self.weights)


def nn_ways(X, y, split, fold, width, seed, n_jobs):
    """Section 2: the NN's fits on fold 0, one per batch size of the grid, four ways."""
    import functools

    import keras
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import StandardScaler

    from pinclass import estimators
    from pinclass.config import classifier_settings
    from pinclass.estimators import _TF_STATE, KerasMLPClassifier

    s = classifier_settings("nn", None)
    fit_rows, val_rows = (split == "train") & (fold != 0), (split == "train") & (fold == 0)
    scaler = StandardScaler().fit(X[fit_rows])
    X_fit, y_fit = scaler.transform(X[fit_rows]).astype(np.float32), y[fit_rows]
    X_val, y_val = scaler.transform(X[val_rows]).astype(np.float32), y[val_rows]

    def estimator(batch_size):
        return KerasMLPClassifier(hidden_units=s["hidden_units"], activation=s["activation"], dropout=s["dropout"],
                                  learning_rate=s["learning_rate"], batch_size=batch_size,
                                  max_epochs=s["max_epochs"], validation_fraction=s["validation_fraction"],
                                  patience=s["patience"], random_state=seed, n_threads=n_jobs)

    def keras_fit(batch_size):
        """The NN as the workflow fitted it before: a new model, compile, fit with EarlyStopping."""
        reference = estimator(batch_size)
        inner, early = reference._validation_split(y_fit, None)
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input(shape=(width,)),
                                  keras.layers.Dense(s["hidden_units"], activation=s["activation"]),
                                  keras.layers.Dropout(s["dropout"]),
                                  keras.layers.Dense(int(y.max()) + 1, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=s["learning_rate"]),
                      loss="sparse_categorical_crossentropy")
        history = model.fit(X_fit[inner], y_fit[inner], batch_size=batch_size, epochs=s["max_epochs"],
                            validation_data=(X_fit[early], y_fit[early]), shuffle=True, verbose=0,
                            callbacks=[keras.callbacks.EarlyStopping(patience=s["patience"],
                                                                     restore_best_weights=True)])
        return np.argmax(model.predict(X_val, batch_size=4096, verbose=0), axis=1), len(history.history["loss"])

    def trainer(fresh, optimizer=estimators.FusedAdam):
        def fit(batch_size):
            if fresh or batch_size == s["grid"]["batch_size"][0]:  # each way builds its own trainer
                _TF_STATE.pop("trainers", None)
            with mock.patch.object(estimators, "MLPTrainer",
                                   functools.partial(estimators.MLPTrainer, optimizer=optimizer)):
                model = estimator(batch_size).fit(X_fit, y_fit)
            return model.predict(X_val), model.n_epochs_
        return fit

    keras_adam = "compiled epochs, Keras' Adam, one trainer for all fits"
    fused = "compiled epochs, one trainer for all fits (now)"
    ways = {"Keras fit, new model per fit": keras_fit,
            keras_adam: trainer(fresh=False, optimizer=KerasAdam),
            "compiled epochs, trainer built per fit": trainer(fresh=True),
            fused: trainer(fresh=False)}
    print(f"\n## NN: fold 0's fits ({len(y_fit):,} rows, width {width}), one per batch size, four ways\n")
    print("| way | batch size | wall | epochs | s per epoch (wall / epochs) | fold-0 macro F1 |")
    print("|---|---|---|---|---|---|")
    keras_fit(s["grid"]["batch_size"][-1])  # untimed: the process's first fit pays TensorFlow's start-up
    totals = {}
    _TF_STATE.pop("trainers", None)
    for way, fit in ways.items():
        totals[way] = 0.0
        for batch_size in s["grid"]["batch_size"]:
            began = time.perf_counter()
            predicted, epochs = fit(batch_size)
            wall = time.perf_counter() - began
            totals[way] += wall
            print(f"| {way} | {batch_size} | {fmt_s(wall)} | {epochs} | {wall / epochs:.3f} "
                  f"| {f1_score(y_val, predicted, average='macro'):.4f} |", flush=True)
    before = next(iter(totals.values()))
    print("\n| way | all fits | speed-up over Keras fit |\n|---|---|---|")
    for way, seconds in totals.items():
        print(f"| {way} | {fmt_s(seconds)} | {before / seconds:.1f} |")
    print(f"\nthe one trainer's fits, Keras' Adam / the fused Adam: {totals[keras_adam] / totals[fused]:.2f}")


def knn_search_per_k(X, y, split, fold, n_classes, seed, n_jobs, shared_result):
    """The whole KNN step as scikit-learn would search: every grid point's fits on their own
    estimator, each predict and predict_proba searching its k. Checks that it chose, scored and
    predicted exactly as the shared search did."""
    from dataclasses import replace

    from pinclass.classifiers import REGISTRY
    from pinclass.grid_search import evaluate
    from pinclass.knn import TieBreakingKNN

    def build(s, seed, n_jobs):
        return TieBreakingKNN(metric=s["metric"], weights=s["weights"], n_jobs=n_jobs, tie_break=s["tie_break"])

    names = [f"class_{i:02d}" for i in range(n_classes)]
    per_k = replace(REGISTRY["knn"], build=build, fold_shared=lambda s: False)
    with mock.patch.dict(REGISTRY, {"knn": per_k}):
        result, _ = evaluate("knn", X, y, split, fold, names, None, seed=seed, n_jobs=n_jobs)
    for key in ("cv", "best_params", "macro_f1", "confusion_matrix"):
        if result[key] != shared_result[key]:
            raise AssertionError(f"knn: a search per k gave another {key} than the shared search")
    return result, Clock()


def compare_scalings(X, y, split, scalings, C, max_iter, seed, cap):
    """Section 3: one LinearSVC fit per scaling, each capped."""
    print(f"\n## One fit: sklearn LinearSVC(C={C:g}, max_iter={max_iter}), its default solver "
          f"(dual='auto': primal here), one thread, cap {cap:g} s per fit\n")
    print("| scaling | wall time | iterations | converged | test macro F1 |")
    print("|---|---|---|---|---|")
    timings = {}
    for way in scalings:
        r = run_capped(_one_fit, (X, y, split, way, C, max_iter, seed), cap)
        timings[way] = r
        if "failed" in r:
            print(f"| {way} | failed ({r['failed']}) | – | – | – |", flush=True)
        elif "capped" in r:
            print(f"| {way} | did not finish within {cap:g} s (stopped) | – | – | – |", flush=True)
        else:
            print(f"| {way} | {fmt_s(r['seconds'])} | {r['n_iter']} | {'yes' if r['converged'] else 'NO'} "
                  f"| {r['macro_f1']:.3f} |", flush=True)
    base = timings.get("l2", {})
    if "seconds" in base and not {"capped", "failed"} & set(base):
        for way, r in timings.items():
            if way == "l2" or "failed" in r:
                continue
            bound = "> " if "capped" in r else ""
            print(f"\nratio {way} / l2: {bound}{r['seconds'] / base['seconds']:.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=25600)
    parser.add_argument("--n-test", type=int, default=None, help="default: n_train / 4")
    parser.add_argument("--widths", default="1024", help="feature widths of the cells section, comma-separated")
    parser.add_argument("--classes", type=int, default=32)
    parser.add_argument("--signal", type=float, default=0.12,
                        help="class signal of the cells' rows (make_features): at 0.12 KNN is at chance, its "
                             "votes nearly even — the worst case for its shared search's ties")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifiers", default="knn,lsvm,nn", help="cells section ('' skips it)")
    parser.add_argument("--n-jobs", type=int, default=2, help="the job's threads (the classify rule's)")
    parser.add_argument("--nn-ways", action="store_true", help="the NN's fold-0 fits four ways (first width)")
    parser.add_argument("--compare-knn-searches", action="store_true",
                        help="the cells section also runs the KNN step searching each k anew (scikit-learn's way)")
    parser.add_argument("--compare-liblinear", action="store_true",
                        help="cells section: also the whole LSVM step with solver liblinear")
    parser.add_argument("--lsvm-solvers", action="store_true",
                        help="the two LSVM solvers per C on fold 0's rows (first width): time, gap, predictions")
    parser.add_argument("--family", choices=("own", "hard", "both"), default="own",
                        help="synthetic rows of --lsvm-solvers and --compare-liblinear (see the docstring)")
    parser.add_argument("--hard-n-train", type=int, default=10000, help="hard family: train rows (fold 0: 4/5)")
    parser.add_argument("--hard-width", type=int, default=768)
    parser.add_argument("--hard-separation", type=float, default=0.35,
                        help="hard family: class centres' norm / the noise's")
    parser.add_argument("--lsvm-scalings", default="", help="scalings of the one-fit LinearSVC comparison, "
                        "e.g. l2,standard (first width)")
    parser.add_argument("--C", type=float, default=1.0, help="C of the one-fit comparison")
    parser.add_argument("--max-iter", type=int, default=1000, help="of the one-fit comparison")
    parser.add_argument("--cap", type=float, default=600.0, help="seconds after which one fit is stopped")
    args = parser.parse_args(argv)
    n_test = args.n_test if args.n_test is not None else args.n_train // 4
    widths = [int(w) for w in args.widths.split(",")]
    classifiers = [c.strip() for c in args.classifiers.split(",") if c.strip()]

    import sklearn
    command = "PYTHONPATH=scripts " + shlex.join([sys.executable.replace(os.getcwd() + "/", ""), *sys.argv])
    print(f"# The classify stage at full size\n\ncommand: `{command}`\n")
    print(f"{args.n_train:,} train + {n_test:,} test rows, {args.classes} classes, widths {widths}; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
          f"{args.n_jobs} threads per job, class signal {args.signal}")
    data = {}
    for width in widths:
        t = time.perf_counter()
        X, y, split = make_features(args.n_train, n_test, width, args.classes, args.seed, signal=args.signal)
        data[width] = X, y, split, stratified_folds(y, split, 5, args.seed)
        norms = np.linalg.norm(X, axis=1)
        print(f"- width {width}: row norm {norms.mean():.1f} ± {norms.std():.1f}, made in "
              f"{time.perf_counter() - t:.1f} s")

    totals, tf_import_s = defaultdict(dict), 0.0
    if "nn" in classifiers or args.nn_ways:
        t = time.perf_counter()
        from pinclass.estimators import import_keras
        import_keras(args.n_jobs)
        tf_import_s = time.perf_counter() - t
    for width in widths if classifiers else []:
        X, y, split, fold = data[width]
        cells, cpu_s = {}, {}  # cpu_s: the process's CPU seconds (all threads), less sensitive to other load
        for classifier in classifiers:
            cpu = time.process_time()
            cells[classifier] = run_cell(classifier, X, y, split, fold, None, args.seed, args.n_jobs)
            cpu_s[classifier] = time.process_time() - cpu
            totals[classifier][width] = cells[classifier][0]["timings"]["total_s"]
        if args.compare_knn_searches and "knn" in cells:
            cpu = time.process_time()
            cells["knn (a search per k)"] = knn_search_per_k(X, y, split, fold, args.classes, args.seed, args.n_jobs,
                                                              cells["knn"][0])
            cpu_s["knn (a search per k)"] = time.process_time() - cpu
        if args.compare_liblinear and args.family != "hard" and "lsvm" in classifiers:
            from pinclass.grid_search import evaluate

            names = [f"class_{i:02d}" for i in range(args.classes)]
            result, _ = evaluate("lsvm", X, y, split, fold, names, {"solver": "liblinear"}, seed=args.seed,
                                 n_jobs=args.n_jobs)
            cells["lsvm (liblinear)"] = result, Clock()
        report_cells(width, cells)
        if "knn (a search per k)" in cells:
            ratio = cells["knn (a search per k)"][0]["timings"]["total_s"] / cells["knn"][0]["timings"]["total_s"]
            cpu_ratio = cpu_s["knn (a search per k)"] / cpu_s["knn"]
            print(f"\na search per k and call / one search per fold, whole KNN step: {ratio:.1f} in wall time, "
                  f"{cpu_ratio:.1f} in CPU time (the same CV scores, choice and test predictions)")
        if args.compare_liblinear and "lsvm" in cells:
            ratio = cells["lsvm (liblinear)"][0]["timings"]["total_s"] / cells["lsvm"][0]["timings"]["total_s"]
            print(f"\nliblinear / batched, whole LSVM step: {ratio:.1f} (liblinear's fits in worker processes: "
                  "its inside/outside shares are not measured)")
    if classifiers:
        project(totals, tf_import_s, classifiers)

    X, y, split, fold = data[widths[0]]
    if args.nn_ways:
        nn_ways(X, y, split, fold, widths[0], args.seed, args.n_jobs)
    scalings = [w.strip() for w in args.lsvm_scalings.split(",") if w.strip()]
    if scalings:
        compare_scalings(X, y, split, scalings, args.C, args.max_iter, args.seed, args.cap)
    families = {"own": ["own"], "hard": ["hard"], "both": ["own", "hard"]}[args.family]
    for family in families:
        if family == "hard":
            n_hard = args.hard_n_train // 4
            X, y, split = make_hard_features(args.hard_n_train, n_hard, args.hard_width, args.classes, args.seed,
                                             args.hard_separation)
            fold = stratified_folds(y, split, 5, args.seed)
            print(f"\nhard family: {args.hard_n_train:,} train + {n_hard:,} test rows × {args.hard_width}, "
                  f"class centres at {args.hard_separation:g} of the noise, L2-normalised")
        else:
            X, y, split, fold = data[widths[0]]
        if args.lsvm_solvers:
            compare_solvers(X, y, split, fold, [0.01, 0.1, 1, 10, 100], args.classes, args.n_jobs, family)
        if args.compare_liblinear and (family == "hard" or "lsvm" not in classifiers):
            compare_steps(X, y, split, fold, args.classes, args.seed, args.n_jobs, family)


if __name__ == "__main__":
    main()
