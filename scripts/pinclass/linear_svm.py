"""All one-vs-rest linear SVM problems of a multi-class fit solved at once.

Each class k has liblinear's L2-regularised squared-hinge primal problem with a regularised bias
(LinearSVC's model, intercept_scaling=1):

    f_k(w) = ½‖w‖² + C Σ_i max(0, 1 − y_ik (x_i·w + b))²,   y_ik = +1 if row i is of class k else −1,

where w holds the bias b as its last entry. liblinear solves the K problems one after another,
copying the data for each; here the K weight vectors are the columns of one (d+1) × K matrix, so
every product with the data is one matrix product for all classes (BLAS, the job's threads).

The method is liblinear's primal one without the trust region: Newton directions from conjugate
gradients on the generalised Hessian I + 2C X̃ᵀ D_k X̃ (D_k: rows inside class k's margin), then an
exact line search (f is a convex piecewise quadratic along any line). CG is preconditioned by one
eigendecomposition of X̃ᵀX̃ shared by all classes (and by all C on the same rows: `Spectral`),
scaled per class by its share of active rows — exact while all rows are active (small C), weaker
as the active rows become few and particular (large C: more CG steps). A class with few active rows
gets its exact Newton system instead, by Woodbury over those rows (`Exact`, CG then ends after one
step): with fewer rows than columns (the demo) from the precomputed X̃X̃ᵀ when at most half the rows
are active; with more rows than columns (the paper's size) from the rows themselves when they are at
most d + 1 and the factor costs at most EXACT_COST_RATIO × the CG steps the spectral preconditioner
last needed for that class (large C; see docs/benchmarks.md). CG's Hessian products run in float32, everything that
decides the solution in float64.

A class is solved when liblinear's stopping rule holds,
‖∇f_k(w)‖ ≤ tol · max(min(#pos, #neg), 1) / n · ‖∇f_k(0)‖, and its duality gap — an upper bound of
f_k(w) − min f_k, from the dual point α_i = 2C·max(0, 1 − y_ik x̃_i·w) — is at most max_gap · f_k(w).
liblinear's rule alone leaves relative gaps of 1e-4 to 5e-4 at C = 100; the gap test costs one or
two more iterations there and nothing at small C. Starting points may be given (warm starts along a C path); the
rule still refers to ∇f_k(0), so a warm start changes the path, not the point at which a class
counts as solved.
"""

import contextlib
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, eigh
from threadpoolctl import ThreadpoolController

CG_FORCING = 0.1  # CG stops at ‖r‖ ≤ 0.1 ‖g‖, liblinear's TRON choice
LINE_SEARCH_STEPS = 60
EXACT_SHARE_MAX = 0.5  # fewer rows than columns: exact preconditioner for classes with ≤ half the rows active
# more rows than columns: the exact preconditioner for a class with a ≤ d + 1 active rows whose
# Woodbury factor (≈ a²·d operations) costs at most EXACT_COST_RATIO × the CG steps (≈ n·d each) its
# last spectral direction took (8: tuned on both synthetic families of benchmarks/classify_full_size.py)
EXACT_COST_RATIO = 8.0


@dataclass
class Solution:
    coef: np.ndarray        # (K, d)
    intercept: np.ndarray   # (K,)
    n_iter: np.ndarray      # Newton iterations per class
    cg_steps: np.ndarray    # CG steps per class, summed over iterations
    converged: np.ndarray   # bool per class
    gradient_norm: np.ndarray  # ‖∇f_k‖ at the solution
    objective: np.ndarray   # f_k at the solution
    spectral: "Spectral"    # the preconditioner, for the next C on the same rows


class _Problem:
    """The data with its bias column handled implicitly (no (n, d+1) copy)."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, C: float):
        self.X, self.Y, self.C = X, Y, C
        self.n, self.d = X.shape

    def margins(self, W):  # (n, K): x̃_i · w_k
        return self.X @ W[:-1] + W[-1]

    def times_transpose(self, R):  # X̃ᵀ R, (d+1, K)
        return np.vstack([self.X.T @ R, R.sum(axis=0, keepdims=True)])

    def objective(self, W, Z):
        slack = np.maximum(0.0, 1.0 - self.Y * Z)
        return 0.5 * np.einsum("ij,ij->j", W, W) + self.C * np.einsum("ij,ij->j", slack, slack)

    def relative_duality_gap(self, W, Z, G):
        """(P − D) / P per column; X̃ᵀ(α∘y) = W − G."""
        alpha = 2.0 * self.C * np.maximum(0.0, 1.0 - self.Y * Z)
        V = W - G
        dual = (alpha.sum(axis=0) - 0.5 * np.einsum("ij,ij->j", V, V)
                - np.einsum("ij,ij->j", alpha, alpha) / (4 * self.C))
        primal = self.objective(W, Z)
        return (primal - dual) / primal

    def gradient(self, W, Z, active):
        return W + 2.0 * self.C * self.times_transpose(active * (Z - self.Y))



def _gram(X):
    """X̃ᵀX̃ with the bias column."""
    n, d = X.shape
    G = np.empty((d + 1, d + 1))
    G[:d, :d] = X.T @ X
    G[:d, d] = G[d, :d] = X.sum(axis=0)
    G[d, d] = n
    return G


class Spectral:
    """What all classes and all C on the same rows share. The preconditioner: one eigendecomposition
    G = VΛVᵀ of X̃ᵀX̃ (its non-zero part: from the n × n X̃X̃ᵀ when there are fewer rows than
    columns); class k's Hessian I + 2C X̃ᵀD_kX̃ is approximated by I + 2C·share_k·G, share_k being
    its share of active rows (on the null space of X̃ both are the identity). And the rows in
    float32 for CG's Hessian products (`_hessian_times`)."""

    def __init__(self, X):
        n, d = X.shape
        self.single = X.astype(np.float32)
        self.kernel = None
        if n < d + 1:
            self.kernel = K = X @ X.T + 1.0  # X̃X̃ᵀ: the bias column adds 1 to every entry
            eigenvalues, U = eigh(K)
            keep = eigenvalues > 1e-10 * max(eigenvalues.max(), 1e-300)
            eigenvalues, U = eigenvalues[keep], U[:, keep]
            vectors = np.vstack([X.T @ U, U.sum(axis=0, keepdims=True)]) / np.sqrt(eigenvalues)
        else:
            eigenvalues, vectors = eigh(_gram(X))
        self.eigenvalues = np.maximum(eigenvalues, 0.0)
        self.vectors = vectors

    def apply(self, R, C, share):
        V = self.vectors
        shrink = 1.0 / (1.0 + 2.0 * C * np.outer(self.eigenvalues, share)) - 1.0
        return R + V @ (shrink * (V.T @ R))


class Exact:
    """A class's Hessian inverse exactly, by Woodbury:
    (I + 2C X̃ᵀD_kX̃)⁻¹ r = r − 2C X̃_Aᵀ (I + 2C X̃_AX̃_Aᵀ)⁻¹ X̃_A r over its active rows A, the small
    matrix taken from the precomputed X̃X̃ᵀ (kernel: fewer rows than columns) or else computed from
    the float32 rows: CG then ends after one step. Used for the classes with few active rows (large
    C), where the spectral approximation is poor and the factor is cheap."""

    def __init__(self, X, C, kernel, rows):
        self.X, self.C = X[rows], C
        if kernel is not None:
            block = kernel[np.ix_(rows, rows)]
        else:  # X: the rows in float32 (`Spectral.single`), the block computed from them
            block = (self.X @ self.X.T).astype(np.float64) + 1.0
        self.factor = cho_factor(np.eye(len(rows)) + 2.0 * C * block)

    def apply(self, r):
        inner = cho_solve(self.factor, self.X @ r[:-1].astype(self.X.dtype) + r[-1])
        return r - 2.0 * self.C * np.append(self.X.T @ inner.astype(self.X.dtype), inner.sum())


_CONTROLLER: list = []


def _one_thread():
    """BLAS on one thread: for the per-class Woodbury factors and solves, too small to gain from
    more, and many times slower on threads that wait for a busy machine's cores."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _line_search(problem, W, Z, S, T):
    """Exact minimiser α_k ≥ 0 of f_k(w_k + α s_k), per column: safeguarded Newton on the
    derivative of a convex piecewise quadratic. T = X̃ S."""
    ws, ss = np.einsum("ij,ij->j", W, S), np.einsum("ij,ij->j", S, S)
    Y, C = problem.Y, problem.C
    alpha = np.ones(S.shape[1])
    low, high = np.zeros_like(alpha), np.full_like(alpha, np.inf)
    for _ in range(LINE_SEARCH_STEPS):
        moved = Z + alpha * T
        active = (Y * moved) < 1.0
        slope = ws + alpha * ss + 2.0 * C * np.einsum("ij,ij->j", active * (moved - Y), T)
        curvature = ss + 2.0 * C * np.einsum("ij,ij->j", active * T, T)
        low = np.where(slope < 0, alpha, low)
        high = np.where(slope > 0, alpha, high)
        step = alpha - slope / curvature
        inside = (step > low) & (step < high)
        bisect = np.where(np.isfinite(high), 0.5 * (low + high), 2.0 * alpha)
        new = np.where(inside, step, bisect)
        if np.all(np.abs(new - alpha) <= 1e-12 * np.maximum(1.0, alpha)):
            return new
        alpha = new
    return alpha


def solve(X: np.ndarray, y_index: np.ndarray, n_classes: int, C: float, *, tol: float = 1e-4,
          max_gap: float = 1e-4, max_iter: int = 1000, start: np.ndarray | None = None,
          spectral: Spectral | None = None) -> Solution:
    """Solve the n_classes one-vs-rest problems at once. X: (n, d) float64; y_index: class index of
    each row. start: optional (d+1, K) starting weights. spectral: `Spectral(X)` of a previous call
    on the same rows (a C path)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, d = X.shape
    Y = np.where(y_index[:, None] == np.arange(n_classes)[None, :], 1.0, -1.0)
    problem = _Problem(X, Y, float(C))
    spectral = spectral or Spectral(X)
    W = np.zeros((d + 1, n_classes)) if start is None else np.array(start, dtype=np.float64)
    positives = (Y > 0).sum(axis=0)
    # ∇f_k(0) = −2C X̃ᵀ y_k: every row is active at w = 0
    norm0 = np.linalg.norm(problem.gradient(np.zeros_like(W), np.zeros_like(Y), np.ones_like(Y)), axis=0)
    target = tol * np.maximum(np.minimum(positives, n - positives), 1) / n * norm0

    n_iter = np.zeros(n_classes, dtype=int)
    cg_steps = np.zeros(n_classes, dtype=int)
    spectral_steps = np.zeros(n_classes, dtype=int)  # CG steps of each class's last spectral direction
    Z = problem.margins(W)
    active = (Y * Z < 1.0).astype(np.float64)
    G = problem.gradient(W, Z, active)
    gnorm = np.linalg.norm(G, axis=0)

    def unsolved(columns):
        sub = _Problem(X, Y[:, columns], problem.C)
        return ((gnorm[columns] > target[columns])
                | (sub.relative_duality_gap(W[:, columns], Z[:, columns], G[:, columns]) > max_gap))

    todo = np.flatnonzero(unsolved(np.arange(n_classes)))
    while todo.size and n_iter[todo].max() < max_iter:
        sub = _Problem(X, Y[:, todo], problem.C)
        S, steps, exact = _newton_direction(sub, G[:, todo], active[:, todo], spectral, spectral_steps[todo])
        cg_steps[todo] += steps
        spectral_steps[todo[~exact]] = steps[~exact]
        T = sub.margins(S)
        alpha = _line_search(sub, W[:, todo], Z[:, todo], S, T)
        W[:, todo] += alpha * S
        Z[:, todo] = sub.margins(W[:, todo])
        active[:, todo] = Y[:, todo] * Z[:, todo] < 1.0
        G[:, todo] = sub.gradient(W[:, todo], Z[:, todo], active[:, todo])
        gnorm[todo] = np.linalg.norm(G[:, todo], axis=0)
        n_iter[todo] += 1
        todo = todo[unsolved(todo)]
    return Solution(coef=W[:-1].T.copy(), intercept=W[-1].copy(), n_iter=n_iter, cg_steps=cg_steps,
                    converged=~unsolved(np.arange(n_classes)), gradient_norm=gnorm, objective=problem.objective(W, Z),
                    spectral=spectral)


def _hessian_times(X32, C, V, active32):
    """(I + 2C X̃ᵀD X̃) V with the data products in float32: CG needs them to its forcing term
    (10 %), not to float64's precision, and float32 products take half the time. Gradients,
    objectives and line searches stay in float64, so the solution's accuracy is unchanged."""
    V32 = V.astype(np.float32)
    R = active32 * (X32 @ V32[:-1] + V32[-1])
    return V + 2.0 * C * np.vstack([X32.T @ R, R.sum(axis=0, keepdims=True)]).astype(np.float64)


def _newton_direction(problem, G, active, spectral, spectral_steps):
    """Approximately solve H_k s_k = −g_k for every column at once by preconditioned CG; also which
    columns had the exact preconditioner. spectral_steps: each column's CG steps the last time it
    had the spectral one (0: not yet)."""
    K = G.shape[1]
    counts = active.sum(axis=0)
    share = counts / active.shape[0]
    if spectral.kernel is not None:
        chosen = (share > 0) & (share <= EXACT_SHARE_MAX)
    else:
        chosen = ((counts > 0) & (counts <= problem.d + 1)
                  & (counts.astype(float) ** 2 <= EXACT_COST_RATIO * spectral_steps * problem.n))
    rows = problem.X if spectral.kernel is not None else spectral.single
    # the kernel side (the demo) keeps the job's threads; the direct side's small factors take one
    small = contextlib.nullcontext if spectral.kernel is not None else _one_thread
    with small():
        exact = {k: Exact(rows, problem.C, spectral.kernel, np.flatnonzero(active[:, k]))
                 for k in np.flatnonzero(chosen)}

    def precondition(R, columns):
        out = spectral.apply(R, problem.C, share[columns])
        if exact:
            with small():
                for j, k in enumerate(columns):
                    if k in exact:
                        out[:, j] = exact[k].apply(R[:, j])
        return out

    active32 = active.astype(np.float32)
    S = np.zeros_like(G)
    R = -G
    limit = CG_FORCING * np.linalg.norm(G, axis=0)
    steps = np.zeros(K, dtype=int)
    running = np.arange(K)
    P = precondition(R, running)
    rz = np.einsum("ij,ij->j", R, P)
    while running.size:
        HP = _hessian_times(spectral.single, problem.C, P[:, running], active32[:, running])
        alpha = rz[running] / np.einsum("ij,ij->j", P[:, running], HP)
        S[:, running] += alpha * P[:, running]
        R[:, running] -= alpha * HP
        steps[running] += 1
        still = np.linalg.norm(R[:, running], axis=0) > limit[running]
        still &= steps[running] < 10 * (problem.d + 1)
        running = running[still]
        if not running.size:
            break
        Z = precondition(R[:, running], running)
        rz_new = np.einsum("ij,ij->j", R[:, running], Z)
        P[:, running] = Z + (rz_new / rz[running]) * P[:, running]
        rz[running] = rz_new
    return S, steps, chosen
