"""The final estimators that scikit-learn does not have as such: the one-vs-rest linear SVM with a
solver chosen per fit, and the Keras network. Both are plain scikit-learn estimators.

TensorFlow is imported only when the network is fitted, so KNN/LSVM jobs never pay for it.
"""

import os
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

LSVM_DUALS = ("adaptive", "auto", True, False)


class OvRLinearSVC(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM (squared hinge, L2 penalty): one binary scikit-learn LinearSVC per class.

    The same model as LinearSVC(multi_class="ovr") — liblinear solves exactly these binary
    problems one after another — with the choice of solver made per fit. The classes are solved
    in sequence on purpose: liblinear's random generator is process-global, so classes solved in
    threads would draw from it in a racing order and two runs would differ.

    dual: True (coordinate descent on the dual), False (Newton on the primal), "auto"
    (scikit-learn's rule: dual only when rows < features), or "adaptive": dual when
    C × mean squared row norm <= 1, else primal. Dual coordinate descent is fastest when that
    product is small (L2-normalised rows with C <= 1: about 3× faster than primal) and
    converges poorly when it is large (C=100), where the primal solver is the reliable one.
    `dual_` records the choice, `n_iter_` the iterations per class.
    """

    def __init__(self, C=1.0, tol=1e-4, max_iter=1000, dual="adaptive", random_state=None):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.dual = dual
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

    def fit(self, X, y):
        X = np.ascontiguousarray(X, dtype=np.float64)  # once, not once per class
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("the linear SVM needs at least two classes in its training rows")
        self.n_features_in_ = X.shape[1]
        self.dual_ = self._use_dual(X)
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        models = [LinearSVC(C=self.C, tol=self.tol, max_iter=self.max_iter, dual=self.dual_,
                            random_state=self.random_state).fit(X, (y == positive).astype(np.int8))
                  for positive in positives]
        self.coef_ = np.vstack([m.coef_ for m in models])
        self.intercept_ = np.concatenate([m.intercept_ for m in models])
        self.n_iter_ = np.array([int(m.n_iter_) for m in models])
        return self

    def decision_function(self, X):
        scores = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return scores.ravel() if len(self.classes_) == 2 else scores

    def predict(self, X):
        scores = self.decision_function(X)
        if len(self.classes_) == 2:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


_TF_STATE: dict = {}


def _import_keras(n_threads: int | None):
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
                 random_state=0, n_threads=None, verbose=0):
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
        self.verbose = verbose

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

    def _validation_split(self, y_index):
        rows = np.arange(len(y_index))
        if not self.validation_fraction:
            return rows, None
        try:
            return train_test_split(rows, test_size=self.validation_fraction, stratify=y_index,
                                    random_state=self.random_state)
        except ValueError as error:  # a class too small to appear on both sides
            warnings.warn(f"validation split not stratified ({error}); using a random seeded split",
                          UserWarning)
            return train_test_split(rows, test_size=self.validation_fraction,
                                    random_state=self.random_state)

    def fit(self, X, y):
        self._check_params()
        keras = _import_keras(self.n_threads)
        X = np.asarray(X, dtype=np.float32)
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("the NN needs at least two classes in its training rows")
        self.n_features_in_ = X.shape[1]
        fit_rows, val_rows = self._validation_split(y_index)

        keras.backend.clear_session()
        keras.utils.set_random_seed(int(self.random_state))
        model = keras.Sequential([
            keras.Input(shape=(X.shape[1],)),
            keras.layers.Dense(self.hidden_units, activation=self.activation),
            keras.layers.Dropout(self.dropout),
            keras.layers.Dense(len(self.classes_), activation="softmax"),
        ])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate),
                      loss="sparse_categorical_crossentropy", jit_compile=False)
        callbacks, validation = [], None
        if val_rows is not None:
            validation = (X[val_rows], y_index[val_rows])
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience,
                                                           restore_best_weights=True))
        history = model.fit(X[fit_rows], y_index[fit_rows], batch_size=int(self.batch_size),
                            epochs=int(self.max_epochs), validation_data=validation, shuffle=True,
                            callbacks=callbacks, verbose=self.verbose)
        self.model_ = model
        self.validation_rows_ = val_rows
        self.history_ = {key: [float(v) for v in values] for key, values in history.history.items()}
        self.n_epochs_ = len(history.history["loss"])
        self.best_epoch_ = (int(np.argmin(history.history["val_loss"])) + 1 if val_rows is not None
                            else self.n_epochs_)
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
            self.model_ = OvRLinearSVC(C=self.C, tol=self.tol, max_iter=self.max_iter,
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
