"""The batched LSVM solver (pinclass.linear_svm) from explicit starts, its exact preconditioner with
more rows than columns, and the refit's warm start from the folds' solutions."""

import numpy as np
import pytest
from sklearn.preprocessing import Normalizer

from pinclass import linear_svm
from pinclass.estimators import OvRLinearSVC
from pinclass.grid_search import evaluate


def _classes(n_train=400, n_test=200, dim=24, n_classes=4, separation=0.5, seed=3):
    """Overlapping classes (centres at `separation` of the noise's norm), rows L2-normalised:
    many rows inside the margin at large C, as in the benchmark's hard family."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = np.arange(n) % n_classes
    centres = rng.normal(0, 1, (n_classes, dim))
    centres *= separation * np.sqrt(dim) / np.linalg.norm(centres, axis=1, keepdims=True)
    X = Normalizer().fit_transform(centres[y] + rng.normal(0, 1, (n, dim)))
    order = rng.permutation(n)
    X, y = X[order], y[order]
    split = np.where(np.arange(n) < n_train, "train", "test")
    fold = np.where(split == "train", np.arange(n) % 3, -1)
    return X, y, split, fold


def _gap_and_objective(X, y, n_classes, C, coef, intercept):
    Y = np.where(y[:, None] == np.arange(n_classes)[None, :], 1.0, -1.0)
    problem = linear_svm._Problem(X, Y, C)
    W = np.vstack([coef.T, intercept])
    Z = problem.margins(W)
    G = problem.gradient(W, Z, (Y * Z < 1.0).astype(float))
    return problem.relative_duality_gap(W, Z, G), problem.objective(W, Z)


@pytest.mark.parametrize("C", [0.1, 10, 100])
def test_any_start_reaches_the_same_optimum_within_the_certified_gap(C):
    """Zero, another fold's solution and a random point all end where the duality gap certifies
    the optimum: the start changes the path, never the point at which a class counts as solved."""
    X, y, split, fold = _classes()
    train, test = split == "train", split == "test"
    rows = train & (fold != 0)
    fold_fit = OvRLinearSVC(C=C).fit(X[rows], y[rows])  # a fold's solution: other rows
    rng = np.random.default_rng(0)
    starts = {"zero": (np.zeros_like(fold_fit.coef_), np.zeros_like(fold_fit.intercept_)),
              "a fold's solution": (fold_fit.coef_, fold_fit.intercept_),
              "random": (rng.normal(0, 3, fold_fit.coef_.shape), rng.normal(0, 3, fold_fit.intercept_.shape))}
    max_gap = 1e-6
    fits = {name: OvRLinearSVC(C=C, max_gap=max_gap).fit(X[train], y[train], coef_init=coef, intercept_init=b)
            for name, (coef, b) in starts.items()}
    cold = OvRLinearSVC(C=C, max_gap=max_gap).fit(X[train], y[train])
    assert np.array_equal(fits["zero"].coef_, cold.coef_)  # zero is the cold start
    assert len({tuple(fit.n_iter_) for fit in fits.values()}) > 1  # the starts were used: other paths
    objectives = []
    for name, fit in fits.items():
        gap, objective = _gap_and_objective(X[train], y[train], 4, C, fit.coef_, fit.intercept_)
        assert fit.solution_.converged.all() and np.all(gap <= max_gap), name
        objectives.append(objective)
    # each within max_gap of the optimum, so of each other
    spread = (np.max(objectives, axis=0) - np.min(objectives, axis=0)) / np.min(objectives, axis=0)
    assert np.all(spread <= max_gap)
    for fit in fits.values():
        assert np.array_equal(fit.predict(X[test]), cold.predict(X[test]))


def test_an_explicit_start_is_a_fit_argument_and_never_kept():
    X, y, split, _ = _classes()
    model = OvRLinearSVC(C=1.0).fit(X, y, coef_init=np.ones((4, X.shape[1])), intercept_init=np.ones(4))
    assert "coef_init" not in model.get_params() and not hasattr(model, "_warm")
    assert set(model.warm_start_params()) == {"coef_init", "intercept_init"}
    assert OvRLinearSVC(solver="liblinear").fit(X, y, coef_init=np.ones((4, X.shape[1]))).warm_start_params() == {}
    two = y < 2  # one problem: a (1, d) start
    binary = OvRLinearSVC(C=1.0).fit(X[two], y[two], **OvRLinearSVC(C=1.0).fit(X[two], y[two]).warm_start_params())
    assert binary.coef_.shape == (1, X.shape[1])


def test_the_exact_preconditioner_from_the_rows_inverts_a_classs_hessian():
    """More rows than columns: a class with at most d + 1 active rows gets (I + 2C X̃ᵀD X̃)⁻¹ by
    Woodbury from its active rows' block, computed from the float32 rows."""
    X, y, _, _ = _classes(n_train=300, n_test=0)
    C, rows = 10.0, np.flatnonzero(y == 1)[:20]
    exact = linear_svm.Exact(X.astype(np.float32), C, None, rows)
    Xt = np.hstack([X, np.ones((len(X), 1))])
    H = np.eye(Xt.shape[1]) + 2 * C * Xt[rows].T @ Xt[rows]
    r = np.random.default_rng(0).normal(size=Xt.shape[1])
    assert np.allclose(H @ exact.apply(r), r, rtol=1e-4, atol=1e-4 * np.linalg.norm(r))


def test_large_c_cold_fits_take_exact_newton_steps_once_few_rows_are_active():
    X, y, _, _ = _classes(n_train=600, n_test=0, dim=64)
    solution = linear_svm.solve(X, y, 4, 100.0)
    assert solution.converged.all()
    # after the first iterations (most rows active, spectral CG) every direction took one CG step
    assert np.all(solution.cg_steps - solution.n_iter <= 20)  # (the spectral preconditioner alone: 200-300 more)


def test_the_refit_starts_from_the_mean_of_the_winning_folds_solutions(monkeypatch):
    X, y, split, fold = _classes()
    names = ["a", "b", "c", "d"]
    settings = {"grid": {"C": [0.1, 10]}}
    calls = []
    fit = OvRLinearSVC.fit

    def recording(self, X, y, coef_init=None, intercept_init=None):
        calls.append({"rows": len(X), "C": self.C, "coef_init": coef_init, "intercept_init": intercept_init})
        return fit(self, X, y, coef_init=coef_init, intercept_init=intercept_init)

    monkeypatch.setattr(OvRLinearSVC, "fit", recording)
    result, predicted = evaluate("lsvm", X, y, split, fold, names, settings, seed=0, return_fitted=True)[:2]
    folds, refit = calls[:-1], calls[-1]
    assert all(call["coef_init"] is None for call in folds) and refit["rows"] == (split == "train").sum()
    monkeypatch.undo()
    best = result["best_params"]["C"]
    train = split == "train"
    winners = [OvRLinearSVC(C=best).fit(Normalizer().fit_transform(X[train & (fold != f)]), y[train & (fold != f)])
               for f in range(3)]
    assert refit["C"] == best and refit["coef_init"].shape == (4, X.shape[1])
    # the folds' fits came along their C path (warm), these cold: the same optima within the gap
    assert np.allclose(refit["coef_init"], np.mean([w.coef_ for w in winners], axis=0), atol=1e-3)
    assert np.allclose(refit["intercept_init"], np.mean([w.intercept_ for w in winners], axis=0), atol=1e-3)
    # the same optimum as a cold refit: the same test predictions, in fewer iterations
    cold = OvRLinearSVC(C=best).fit(Normalizer().fit_transform(X[train]), y[train])
    assert np.array_equal(predicted, cold.predict(Normalizer().fit_transform(X[split == "test"])))
    assert result["refit"]["n_iter"] < cold.n_iter_.max()


def test_liblinear_and_gridless_refits_start_cold(monkeypatch):
    X, y, split, fold = _classes(n_train=120, n_test=40)
    starts = []
    fit = OvRLinearSVC.fit

    def recording(self, X, y, coef_init=None, intercept_init=None):
        starts.append(coef_init)
        return fit(self, X, y, coef_init=coef_init, intercept_init=intercept_init)

    monkeypatch.setattr(OvRLinearSVC, "fit", recording)
    evaluate("lsvm", X, y, split, fold, list("abcd"), {"grid": {"C": [1]}, "solver": "liblinear"}, seed=0)
    evaluate("lsvm", X, y, split, fold, list("abcd"), {"grid": {"max_gap": [1e-4]}}, seed=0)
    assert all(start is None for start in starts)
