"""The final estimators that scikit-learn does not have as such: the one-vs-rest linear SVM with a
solver chosen per fit, the Keras network and the RBF SVM (KNN: pinclass.knn). All are plain
scikit-learn estimators.

TensorFlow is imported only when the network is fitted, so KNN/LSVM jobs never pay for it.
"""

import os
import warnings
from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from pinclass import linear_svm
from pinclass.array_digest import digest
from pinclass.grouping import TOLERANCE, group_sizes, hold_out

LSVM_DUALS = ("adaptive", "auto", True, False)
LSVM_SOLVERS = ("batched", "liblinear")


class OvRLinearSVC(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM (squared hinge, L2 penalty, regularised bias): LinearSVC's model.

    solver "batched" (`pinclass.linear_svm`): all classes' problems solved at once by a truncated
    Newton method, stopped by liblinear's rule and a duality gap ≤ max_gap; deterministic. With
    warm_start=True a fit on the same rows as the previous one starts from its weights (a C path:
    the harness fits each fold's grid in ascending C). fit's coef_init/intercept_init give an
    explicit start on any rows (the refit on all training rows starts from the mean of its folds'
    solutions, `warm_start_params`); they are fit arguments, never kept. Any start reaches the same
    optimum: the stopping test certifies the duality gap, not the distance travelled.
    solver "liblinear": one binary scikit-learn LinearSVC per class, the reference. The classes are
    solved in sequence on purpose: liblinear's random generator is process-global, so classes
    solved in threads would draw from it in a racing order and two runs would differ.

    dual (liblinear only): True (coordinate descent on the dual), False (Newton on the primal),
    "auto" (scikit-learn's rule: dual only when rows < features), or "adaptive": dual when
    C × mean squared row norm <= 1, else primal. Dual coordinate descent is fastest when that
    product is small (L2-normalised rows with C <= 1: about 3× faster than primal) and
    converges poorly when it is large (C=100), where the primal solver is the reliable one.
    `dual_` records the choice (always False for batched), `n_iter_` the iterations per class.
    """

    def __init__(self, C=1.0, tol=1e-4, max_gap=1e-4, max_iter=1000, solver="batched", dual="adaptive",
                 warm_start=False, random_state=None):
        self.C = C
        self.tol = tol
        self.max_gap = max_gap
        self.max_iter = max_iter
        self.solver = solver
        self.dual = dual
        self.warm_start = warm_start
        self.random_state = random_state

    def _use_dual(self, X) -> bool:
        if self.dual == "adaptive":
            # (1 + 1e-3: rows L2-normalised in float32 have squared norms of 1 ± 1e-7)
            return bool(self.C * float(np.mean(np.einsum("ij,ij->i", X, X))) <= 1.0 + 1e-3)
        if self.dual == "auto":
            return X.shape[0] < X.shape[1]
        if isinstance(self.dual, (bool, np.bool_)):
            return bool(self.dual)
        raise ValueError(f"dual: expected one of {LSVM_DUALS}, got {self.dual!r}")

    def fit(self, X, y, coef_init=None, intercept_init=None):
        """coef_init (n_problems, d), intercept_init (n_problems,): the batched solver's start
        (n_problems: 1 for two classes, else the number of classes); liblinear ignores them."""
        X = np.ascontiguousarray(X, dtype=np.float64)  # once, not once per class
        y = np.asarray(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError("the linear SVM needs at least two classes in its training rows")
        if self.solver == "batched":
            self._fit_batched(X, y, classes, coef_init, intercept_init)
        elif self.solver == "liblinear":
            self._fit_liblinear(X, y, classes)
        else:
            raise ValueError(f"solver: expected one of {LSVM_SOLVERS}, got {self.solver!r}")
        self.classes_, self.n_features_in_ = classes, X.shape[1]
        return self

    def _fit_liblinear(self, X, y, classes):
        self.dual_ = self._use_dual(X)
        positives = classes[1:] if len(classes) == 2 else classes
        models = [LinearSVC(C=self.C, tol=self.tol, max_iter=self.max_iter, dual=self.dual_,
                            random_state=self.random_state).fit(X, (y == positive).astype(np.int8))
                  for positive in positives]
        self.coef_ = np.vstack([m.coef_ for m in models])
        self.intercept_ = np.concatenate([m.intercept_ for m in models])
        self.n_iter_ = np.array([int(m.n_iter_) for m in models])

    def _fit_batched(self, X, y, classes, coef_init=None, intercept_init=None):
        index = np.searchsorted(classes, y)
        if len(classes) == 2:  # one problem, class 1 positive: LinearSVC's binary model
            index, n_problems = np.where(index == 1, 0, 1), 1
        else:
            n_problems = len(classes)
        # a warm start only from a fit on the very same rows and labels (hashed only when warm-starting)
        fingerprint = digest(X, index) if self.warm_start else None
        warm = fingerprint is not None and getattr(self, "_warm", None) and self._warm["fingerprint"] == fingerprint
        start = self._warm["weights"] if warm else None
        spectral = self._warm["spectral"] if warm else None
        if coef_init is not None:  # an explicit start wins over the previous fit's
            coef_init = np.asarray(coef_init, dtype=np.float64).reshape(n_problems, X.shape[1])
            intercept_init = (np.zeros(n_problems) if intercept_init is None
                              else np.asarray(intercept_init, dtype=np.float64).reshape(n_problems))
            start = np.vstack([coef_init.T, intercept_init])
        solution = linear_svm.solve(X, index, n_problems, float(self.C), tol=self.tol, max_gap=self.max_gap,
                                    max_iter=self.max_iter, start=start, spectral=spectral)
        if self.warm_start:
            self._warm = {"fingerprint": fingerprint, "spectral": solution.spectral,
                          "weights": np.vstack([solution.coef.T, solution.intercept])}
        if not solution.converged.all():
            unsolved = int((~solution.converged).sum())
            warnings.warn(f"the batched LSVM solver did not converge: {unsolved} of {n_problems} classes short of "
                          f"the tolerance after {self.max_iter} iterations; increase max_iter", ConvergenceWarning)
        self.coef_, self.intercept_, self.n_iter_, self.dual_ = (solution.coef, solution.intercept,
                                                                  solution.n_iter, False)
        self.solution_ = replace(solution, spectral=None)  # convergence record: CG steps, gradient norms

    def warm_start_params(self) -> dict:
        """fit arguments that start another batched fit from this one's solution (none for liblinear)."""
        if self.solver != "batched":
            return {}
        return {"coef_init": self.coef_.copy(), "intercept_init": self.intercept_.copy()}

    def decision_function(self, X):
        scores = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return scores.ravel() if len(self.classes_) == 2 else scores

    def predict(self, X):
        scores = self.decision_function(X)
        if len(self.classes_) == 2:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


_TF_STATE: dict = {}


def import_keras(n_threads: int | None):
    """Import TensorFlow/Keras once, deterministic ops, thread pools of n_threads if still possible."""
    if "keras" not in _TF_STATE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # C++ INFO lines only; warnings stay
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import tensorflow as tf
        if n_threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(n_threads)
                tf.config.threading.set_inter_op_parallelism_threads(n_threads)
                _TF_STATE["threads"] = n_threads
            except RuntimeError:  # TensorFlow already started in this process
                _TF_STATE["threads"] = None
        tf.config.experimental.enable_op_determinism()
        import keras
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"the NN needs the Keras TensorFlow backend, got '{keras.backend.backend()}' "
                               "(KERAS_BACKEND)")
        _TF_STATE["keras"] = keras
    elif n_threads and _TF_STATE.get("threads") not in (None, n_threads):
        warnings.warn(f"TensorFlow already runs with {_TF_STATE['threads']} threads in this process; "
                      f"n_threads={n_threads} is not applied", RuntimeWarning)
    return _TF_STATE["keras"]


class FusedAdam:
    """Keras' Adam (its defaults: beta_1 0.9, beta_2 0.999, epsilon 1e-7), each variable's step one
    fused TensorFlow kernel (ResourceApplyAdam: Keras' formula in Keras' order of operations). The
    kernel works out 1 - beta in float32, where Keras does it in double precision before rounding
    (1 - beta_2 = 0.00099998713 rather than 0.001): bit for bit Keras' Adam given float32 betas.

    Keras' Adam runs about a dozen element-wise ops per step over each weight tensor, which at the
    paper's width cost more than the batch's matmuls at batch 32 (docs/benchmarks.md).
    """

    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7

    def __init__(self, weights, learning_rate: float):
        import tensorflow as tf

        self.weights, self.learning_rate = weights, learning_rate
        self.moments = [(tf.Variable(tf.zeros_like(w), trainable=False), tf.Variable(tf.zeros_like(w), trainable=False))
                        for w in weights]
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)

    def reset(self):
        """The state of a new optimizer: no steps taken, zero moments."""
        import tensorflow as tf

        self.iterations.assign(0)
        for m, v in self.moments:
            m.assign(tf.zeros_like(m))
            v.assign(tf.zeros_like(v))

    def apply(self, gradients):
        import tensorflow as tf

        self.iterations.assign_add(1)
        step = tf.cast(self.iterations, tf.float32)
        beta_1_power, beta_2_power = tf.pow(self.beta_1, step), tf.pow(self.beta_2, step)
        for weight, (m, v), gradient in zip(self.weights, self.moments, gradients, strict=True):
            tf.raw_ops.ResourceApplyAdam(var=weight.handle, m=m.handle, v=v.handle, beta1_power=beta_1_power,
                                         beta2_power=beta_2_power, lr=self.learning_rate, beta1=self.beta_1,
                                         beta2=self.beta_2, epsilon=self.epsilon, grad=gradient)


class MLPTrainer:
    """Keras' `fit` with shuffling and EarlyStopping(val_loss, patience, restore_best_weights), with
    the whole epoch's mini-batch loop inside one compiled TensorFlow function.

    Through `fit`, an epoch of 608 rows took ~0.7 s of Keras' per-step Python and tf.data work and
    every fit retraced its functions (~3 s); here a step costs its arithmetic, and one trainer —
    its model, optimizer and traced functions — serves every fit of the same architecture: `fit`
    copies in the weights of a freshly built, seeded model and resets the optimizer.
    """

    def __init__(self, keras, build, learning_rate: float, n_features: int, optimizer=FusedAdam):
        import tensorflow as tf

        self.keras, self.build = keras, build
        self.model = build()
        self.optimizer = optimizer(self.model.trainable_variables, learning_rate)
        loss_of = keras.losses.SparseCategoricalCrossentropy()  # the row mean, as Keras' compiled loss
        model, optimizer, weights = self.model, self.optimizer, self.model.trainable_variables
        rows_spec = tf.TensorSpec([None, n_features], tf.float32)
        labels_spec = tf.TensorSpec([None], tf.int64)

        @tf.function(input_signature=[rows_spec, labels_spec, tf.TensorSpec([None], tf.int32),
                                      tf.TensorSpec([], tf.int32)], jit_compile=False)
        def epoch(X, y, order, batch_size):
            n = tf.shape(order)[0]
            total = tf.constant(0.0)
            for start in tf.range(0, n, batch_size):
                rows = order[start:start + batch_size]
                with tf.GradientTape() as tape:
                    loss = loss_of(tf.gather(y, rows), model(tf.gather(X, rows), training=True))
                optimizer.apply(tape.gradient(loss, weights))
                total += loss * tf.cast(tf.shape(rows)[0], tf.float32)
            return total / tf.cast(n, tf.float32)

        @tf.function(input_signature=[rows_spec, labels_spec], jit_compile=False)
        def evaluate(X, y):
            return loss_of(y, model(X, training=False))

        self.epoch, self.evaluate = epoch, evaluate

    def fit(self, X, y, validation, *, batch_size: int, max_epochs: int, patience: int, seed: int):
        """Train from the seed's initial weights; rows reshuffled every epoch by a generator seeded
        by `seed` (the last mini-batch may be smaller). Returns (the trained model — this trainer's,
        valid until its next fit —, {"loss": [...], "val_loss": [...]}, best epoch); without
        validation, all max_epochs epochs run and the last is the best."""
        import tensorflow as tf

        self.keras.utils.set_random_seed(seed)
        for variable, value in zip(self.model.variables, self.build().variables, strict=True):
            variable.assign(value)  # weights and the dropout generator's state of a seeded new model
        self.optimizer.reset()
        X, y = tf.constant(X, tf.float32), tf.constant(y, tf.int64)
        if validation is not None:
            validation = (tf.constant(validation[0], tf.float32), tf.constant(validation[1], tf.int64))
        rng = np.random.default_rng(seed)
        batch = tf.constant(batch_size, tf.int32)
        history: dict = {"loss": []} if validation is None else {"loss": [], "val_loss": []}
        best, best_epoch, best_weights, waited = np.inf, 0, None, 0
        for e in range(max_epochs):
            order = tf.constant(rng.permutation(int(X.shape[0])).astype(np.int32))
            history["loss"].append(float(self.epoch(X, y, order, batch)))
            if validation is None:
                continue
            current = float(self.evaluate(*validation))
            history["val_loss"].append(current)
            # Keras' EarlyStopping: the first epoch's weights are the best until one improves on
            # them (a NaN loss never does); an improvement resets the wait
            if best_weights is None:
                best_epoch, best_weights = e + 1, self.model.get_weights()
            waited += 1
            if current < best:
                best, best_epoch, best_weights, waited = current, e + 1, self.model.get_weights(), 0
            elif waited >= patience and e > 0:
                break
        if best_weights is not None:
            self.model.set_weights(best_weights)
        return self.model, history, best_epoch if validation is not None else len(history["loss"])


def mlp_model(keras, width: int, units: int, activation: str, dropout: float, n_classes: int):
    """The network: Input(width) → Dense(units, activation) → Dropout → Dense(n_classes, softmax)."""
    return keras.Sequential([
        keras.Input(shape=(width,)),
        keras.layers.Dense(units, activation=activation),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])


class KerasMLPClassifier(ClassifierMixin, BaseEstimator):
    """Input → Dense(hidden_units, activation) → Dropout → Dense(n_classes, softmax), as an sklearn estimator.

    Adam(learning_rate) on sparse categorical cross-entropy, shuffled mini-batches of batch_size,
    at most max_epochs epochs. Early stopping: a stratified, seeded validation_fraction of the rows
    given to fit (so in CV: of the training folds only) is held out; training stops after `patience`
    epochs without a lower validation loss and the weights of the best epoch are restored.
    validation_fraction=0 trains max_epochs epochs on all rows. Seeded by random_state, with
    TensorFlow's deterministic ops: the same inputs give the same predictions.
    """

    def __init__(self, hidden_units=512, activation="relu", dropout=0.5, learning_rate=1e-3,
                 batch_size=32, max_epochs=50, validation_fraction=0.1, patience=5,
                 random_state=0, n_threads=None):
        self.hidden_units = hidden_units
        self.activation = activation
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self):
        checks = [("hidden_units", int, 1), ("batch_size", int, 1), ("max_epochs", int, 1),
                  ("patience", int, 0)]
        for name, kind, low in checks:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: expected 0 <= dropout < 1, got {self.dropout!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction: expected 0 <= value < 1, got {self.validation_fraction!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected > 0, got {self.learning_rate!r}")

    def _validation_split(self, y_index, groups):
        rows = np.arange(len(y_index))
        if not self.validation_fraction:
            return rows, None
        if groups is not None:
            group, sizes = group_sizes(groups, y_index, len(self.classes_))
            held = hold_out(sizes, self.validation_fraction, np.random.default_rng(self.random_state), TOLERANCE)
            if held.any() and not held.all():
                return rows[~held[group]], rows[held[group]]
            warnings.warn(f"validation part not grouped ({len(sizes)} groups cannot give one of "
                          f"{self.validation_fraction:g}); drawn image by image", UserWarning)
        try:
            return train_test_split(rows, test_size=self.validation_fraction, stratify=y_index,
                                    random_state=self.random_state)
        except ValueError as error:  # a class too small to appear on both sides
            warnings.warn(f"validation split not stratified ({error}); using a random seeded split",
                          UserWarning)
            return train_test_split(rows, test_size=self.validation_fraction,
                                    random_state=self.random_state)

    def fit(self, X, y, groups=None):
        """groups: each row's board or user (the split's `group_by`), so that the validation part holds
        whole groups, stratified by category as far as they allow (`grouping.hold_out`)."""
        self._check_params()
        keras = import_keras(self.n_threads)
        X = np.asarray(X, dtype=np.float32)
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("the NN needs at least two classes in its training rows")
        self.n_features_in_ = X.shape[1]
        fit_rows, val_rows = self._validation_split(y_index, groups)

        key = (X.shape[1], int(self.hidden_units), self.activation, float(self.dropout), len(self.classes_),
               float(self.learning_rate))
        trainers = _TF_STATE.setdefault("trainers", {})
        if key not in trainers:
            width, units, activation, dropout, n_classes, learning_rate = key  # plain values, not self
            trainers[key] = MLPTrainer(keras, lambda: mlp_model(keras, width, units, activation, dropout, n_classes),
                                       learning_rate, width)
        validation = None if val_rows is None else (X[val_rows], y_index[val_rows])
        model, history, best_epoch = trainers[key].fit(
            X[fit_rows], y_index[fit_rows], validation, batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs), patience=int(self.patience), seed=int(self.random_state))
        # the trainer's model serves the next fit: keep a copy of this one's
        self.model_ = keras.models.clone_model(model)
        self.model_.set_weights(model.get_weights())
        self.validation_rows_ = val_rows
        self.n_fit_rows_ = len(fit_rows)
        self.history_ = history
        self.n_epochs_ = len(history["loss"])
        self.best_epoch_ = best_epoch
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float32)
        # Eager calls in fixed chunks: no tf.function to (re)trace for every fitted model.
        chunks = [np.asarray(self.model_(X[i:i + 4096], training=False)) for i in range(0, len(X), 4096)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes_)), np.float32)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class RBFSVC(ClassifierMixin, BaseEstimator):
    """SVM with an RBF kernel exp(-gamma ||x - y||²), one-vs-rest decisions.

    method "exact": libsvm's SVC (one-vs-one inside; time grows with the square of the rows and more).
    method "nystroem": the kernel approximated by a Nyström map onto `n_components` seeded landmark
    rows, then the one-vs-rest linear SVM (`OvRLinearSVC`) on the mapped rows — the same model up to
    the approximation, at the cost of a linear SVM on n_components columns.
    """

    def __init__(self, C=1.0, gamma=1.0, method="exact", n_components=2048, tol=1e-4, max_iter=1000,
                 random_state=0):
        self.C = C
        self.gamma = gamma
        self.method = method
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.kernel_approximation import Nystroem
        from sklearn.svm import SVC

        X = np.asarray(X, dtype=np.float64)
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        if self.method == "exact":
            self.map_ = None
            self.model_ = SVC(C=self.C, kernel="rbf", gamma=self.gamma, tol=self.tol, cache_size=2000,
                              decision_function_shape="ovr", random_state=self.random_state).fit(X, y)
        elif self.method == "nystroem":
            self.map_ = Nystroem(kernel="rbf", gamma=self.gamma, n_components=min(self.n_components, len(X)),
                                 random_state=self.random_state).fit(X)
            # liblinear, as measured (docs/benchmarks.md); the batched solver would also serve
            self.model_ = OvRLinearSVC(C=self.C, tol=self.tol, max_iter=self.max_iter, solver="liblinear",
                                       random_state=self.random_state).fit(self.map_.transform(X), y)
        else:
            raise ValueError(f"method: expected 'exact' or 'nystroem', got {self.method!r}")
        return self

    def _mapped(self, X):
        X = np.asarray(X, dtype=np.float64)
        return X if self.map_ is None else self.map_.transform(X)

    def decision_function(self, X):
        return self.model_.decision_function(self._mapped(X))

    def predict(self, X):
        return self.model_.predict(self._mapped(X))

    def fit_info(self) -> dict:
        if self.map_ is None:
            return {"n_support": int(self.model_.n_support_.sum())}
        return {"n_iter": int(np.max(self.model_.n_iter_)), "dual": int(self.model_.dual_)}
