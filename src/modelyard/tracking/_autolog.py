"""Autologging for scikit-learn: ``yard.autolog()`` records every outermost ``fit``.

``autolog()`` patches ``fit`` (and ``fit_transform`` / ``fit_predict`` where a class defines
them) of scikit-learn's estimators, keeping the originals so ``autolog(disable=True)`` restores
them. Each outermost fit call in a thread logs into the active run, or into a run of its own
(named after the estimator class) that ends FINISHED, or FAILED when the fit raises; fits made
inside it (pipeline steps, search candidates, ensemble members) log nothing of their own.

A fit logs the estimator's params (``get_params(deep=True)``; nested estimators by class name),
the tags ``estimator_class`` and ``estimator_name``, training metrics prefixed ``training_``
(metrics on each ``eval_set`` entry prefixed ``eval_``, ``eval1_`` ...), and, with
``log_models=True``, the fitted estimator as a model package (``save_model``: skops where it can,
else joblib) in the run's ``model/`` artifacts, loadable with ``yard.models.load("runs:/<id>/model")``;
with ``registered_model_name`` it is also registered as the model's next version. Logging never
breaks a fit: a failure becomes a warning.

Like MLflow, data-manipulation estimators (``sklearn.preprocessing``, ``sklearn.impute``,
``sklearn.feature_extraction``, ``sklearn.feature_selection`` and ``ColumnTransformer``) are not
patched on their own: they are logged as part of the pipeline that contains them.

Fits run in other threads by a parallel backend (``n_jobs`` with the threading backend) count
as outermost in their thread; process-based backends (joblib's default) log nothing.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInputError
from modelyard.names import MAX_PARAM_VALUE_LENGTH, validate_key, validate_name

if TYPE_CHECKING:
    from modelyard.client import Client
    from modelyard.tracking._fluent import ActiveRun

__all__ = ["autolog"]

_METHODS = ("fit", "fit_transform", "fit_predict")
# Data-manipulation routines rather than models (as in mlflow.sklearn.autolog).
_EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
_EXCLUDED_CLASSES = frozenset({"sklearn.compose._column_transformer.ColumnTransformer"})


@dataclass(frozen=True)
class _Config:
    log_models: bool = True
    log_datasets: bool = False
    registered_model_name: str | None = None
    silent: bool = False


_config = _Config()
_lock = threading.Lock()
# (class, method name) -> (whether the class defined the method itself, the original attribute)
_originals: dict[tuple[type, str], tuple[bool, Any]] = {}
_local = threading.local()  # .depth: fit calls in progress in this thread


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_datasets: bool = False,
    registered_model_name: str | None = None,
    silent: bool = False,
) -> None:
    """Log params, metrics and the fitted model of every scikit-learn ``fit`` call.

    Calling it again replaces the options; ``autolog(disable=True)`` restores the original
    methods.

    Example::

        yard.autolog()
        LogisticRegression(C=0.5).fit(X, y)    # a run "LogisticRegression" with params, metrics, model

    Args:
        disable: restore scikit-learn's original methods (the other options are ignored).
        log_models: store the fitted estimator as a model package in the run's ``model/`` artifacts.
        log_datasets: reserved for dataset lineage, which arrives with the data subpackage;
            accepted and kept, it logs nothing yet.
        registered_model_name: register each logged model as the next version of this model
            (by default packages are logged on their runs only, so the registry is not flooded).
        silent: suppress the warnings autolog gives when logging fails.

    Raises:
        InvalidInputError: ``registered_model_name`` is not a valid model name.
    """
    global _config
    with _lock:
        if disable:
            _unpatch()
            _config = _Config()
            return
        if registered_model_name is not None:
            validate_name(registered_model_name, "registered model name")
        _config = _Config(
            log_models=log_models,
            log_datasets=log_datasets,
            registered_model_name=registered_model_name,
            silent=silent,
        )
        if not _originals:
            _patch()


# patching ---------------------------------------------------------------------------------
@functools.cache
def _estimator_classes() -> tuple[type, ...]:
    """Every scikit-learn estimator class autolog patches (importing them takes seconds: cached)."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    classes = {cls for _, cls in all_estimators()} | {Pipeline, GridSearchCV, RandomizedSearchCV}
    return tuple(sorted((c for c in classes if not _is_excluded(c)), key=_dotted_name))


def _is_excluded(cls: type) -> bool:
    module = cls.__module__
    return _dotted_name(cls) in _EXCLUDED_CLASSES or any(
        module == m or module.startswith(m + ".") for m in _EXCLUDED_MODULES
    )


def _patch() -> None:
    # Plan everything first, so an inherited ``fit`` is looked up before its base class is patched.
    plan: list[tuple[type, str, bool, Any, Any]] = []
    for cls in _estimator_classes():
        for name in _METHODS:
            own = name in cls.__dict__
            if not own and name != "fit":
                continue  # an inherited fit_transform usually calls fit, which is patched
            original = _lookup(cls, name)
            replacement = _patched_attribute(original) if original is not None else None
            if replacement is not None:
                plan.append((cls, name, own, original, replacement))
    for cls, name, own, original, replacement in plan:
        setattr(cls, name, replacement)
        _originals[(cls, name)] = (own, original)


def _unpatch() -> None:
    for (cls, name), (own, original) in _originals.items():
        if own:
            setattr(cls, name, original)
        else:
            delattr(cls, name)
    _originals.clear()


def _lookup(cls: type, name: str) -> Any:
    """The raw class attribute ``name`` along the MRO (a function or a descriptor), or ``None``."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _patched_attribute(original: Any) -> Any:
    """A patched version of a class attribute, or ``None`` when it is not a method we can wrap."""
    if inspect.isfunction(original):
        return _wrap(original)
    fn = getattr(original, "fn", None)
    if inspect.isfunction(fn) and hasattr(type(original), "__get__"):
        # sklearn's ``available_if`` descriptor: keep its check, wrap the function it guards.
        patched = copy.copy(original)
        patched.fn = _wrap(fn)
        return patched
    return None  # a property or another descriptor: leave it alone


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth: int = getattr(_local, "depth", 0)
        if depth:
            return original(self, *args, **kwargs)
        _local.depth = 1
        try:
            return _fit_and_log(original, self, args, kwargs)
        finally:
            _local.depth = 0

    return patched


# one outermost fit --------------------------------------------------------------------------
def _fit_and_log(original: Callable[..., Any], estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    config = _config
    eval_sets: Any = None
    if "eval_set" in kwargs:
        if _accepts(original, "eval_set"):
            eval_sets = kwargs["eval_set"]
        else:
            kwargs = dict(kwargs)
            eval_sets = kwargs.pop("eval_set")
    run: ActiveRun | None = None
    started = False
    try:
        run, started = _open_run(type(estimator).__name__)
    except Exception as exc:  # noqa: BLE001 - autolog must never break a fit
        _warn(config, f"could not start a run for {type(estimator).__name__}", exc)
    try:
        result = original(estimator, *args, **kwargs)
    except BaseException as exc:
        if started and run is not None:
            try:
                run.__exit__(type(exc), exc, exc.__traceback__)  # FAILED (KILLED on Ctrl-C)
            except Exception as end_exc:  # noqa: BLE001 - the fit's own error matters more
                _warn(config, "could not end the run of a failed fit", end_exc)
        raise
    if run is not None:
        _log_fit(config, run._client, run.id, original, estimator, args, kwargs, eval_sets)
        if started:
            try:
                run.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 - autolog must never break a fit
                _warn(config, "could not end the run", exc)
    return result


def _open_run(name: str) -> tuple[ActiveRun, bool]:
    """The active run, or a new one; the flag says whether autolog started it (and must end it)."""
    from modelyard.tracking._fluent import active_run, start_run

    run = active_run()
    if run is not None:
        return run, False
    return start_run(name=name), True


def _log_fit(
    config: _Config,
    client: Client,
    run_id: str,
    original: Callable[..., Any],
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    eval_sets: Any,
) -> None:
    """Log what a finished fit produced; each part independently, failures as warnings."""
    name = type(estimator).__name__

    def attempt(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - autolog must never break a fit
            _warn(config, f"could not log the {what} of {name}", exc)

    attempt("params", lambda: client.log_params(run_id, _params(estimator)))
    attempt(
        "tags",
        lambda: client.set_tags(run_id, {"estimator_class": _dotted_name(type(estimator)), "estimator_name": name}),
    )
    metrics: dict[str, float] = {}
    fit_X: list[Any] = []

    def collect() -> None:
        X, y, sample_weight = _fit_data(original, estimator, args, kwargs)
        fit_X.append(X)
        if X is not None:
            metrics.update(_metrics(estimator, X, y, sample_weight, "training_"))
        for i, (X_eval, y_eval) in enumerate(_eval_pairs(eval_sets)):
            metrics.update(_metrics(estimator, X_eval, y_eval, None, "eval_" if i == 0 else f"eval{i}_"))

    attempt("metrics", collect)
    attempt("search results", lambda: _log_search_results(client, run_id, estimator, metrics))
    if metrics:
        attempt("metrics", lambda: client.log_metrics(run_id, metrics))
    if config.log_models:
        attempt("model", lambda: _log_model(client, run_id, estimator, config, fit_X[0] if fit_X else None))


def _warn(config: _Config, message: str, exc: BaseException) -> None:
    if not config.silent:
        warnings.warn(f"modelyard autolog {message}: {type(exc).__name__}: {exc}", stacklevel=3)


# what to log --------------------------------------------------------------------------------
def _params(estimator: Any) -> dict[str, str]:
    """``get_params(deep=True)`` as text: nested estimators by class name, over-long values skipped."""
    out: dict[str, str] = {}
    for key, value in estimator.get_params(deep=True).items():
        text = type(value).__name__ if _is_estimator(value) else value if isinstance(value, str) else str(value)
        if len(text) > MAX_PARAM_VALUE_LENGTH or not _valid_key(key):
            continue
        out[key] = text
    return out


def _is_estimator(value: Any) -> bool:
    return not isinstance(value, type) and callable(getattr(value, "get_params", None))


def _valid_key(key: object) -> bool:
    try:
        validate_key(key, "param")
    except InvalidInputError:
        return False  # e.g. a pipeline step named with characters keys may not use
    return True


def _fit_data(
    original: Callable[..., Any], estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, Any, Any]:
    """``(X, y, sample_weight)`` of a fit call (each ``None`` when absent)."""
    signature = _signature(original)
    try:
        bound = signature.bind(estimator, *args, **kwargs)
    except TypeError:
        return None, None, None
    params = list(signature.parameters.values())[1:]  # after self
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    arguments = bound.arguments
    X = arguments.get(positional[0]) if positional else None
    y_name = "y" if "y" in signature.parameters else "Y" if "Y" in signature.parameters else None
    if y_name is None and len(positional) > 1:
        y_name = positional[1]
    y = arguments.get(y_name) if y_name else None
    sample_weight = arguments.get("sample_weight")
    for p in params:
        if p.kind is p.VAR_KEYWORD and sample_weight is None:
            sample_weight = arguments.get(p.name, {}).get("sample_weight")
    return X, y, sample_weight


def _eval_pairs(eval_sets: Any) -> Iterable[tuple[Any, Any]]:
    if eval_sets is None:
        return []
    if isinstance(eval_sets, tuple) and len(eval_sets) == 2 and not isinstance(eval_sets[0], tuple | list):
        eval_sets = [eval_sets]  # a single (X, y) pair
    pairs = []
    for item in eval_sets:
        if isinstance(item, tuple | list) and len(item) >= 2:
            pairs.append((item[0], item[1]))
    return pairs


def _metrics(estimator: Any, X: Any, y: Any, sample_weight: Any, prefix: str) -> dict[str, float]:
    """The metrics a fitted estimator supports on ``(X, y)``; each one that fails is skipped."""
    from sklearn import metrics as m
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}

    def add(name: str, compute: Callable[[], Any]) -> None:
        try:
            out[prefix + name] = float(compute())
        except Exception:  # noqa: BLE001 - a metric the estimator or data does not support
            pass

    sw = sample_weight
    if y is not None and is_classifier(estimator):
        y_pred = _try(lambda: estimator.predict(X))
        if y_pred is not None:
            add("accuracy", lambda: m.accuracy_score(y, y_pred, sample_weight=sw))
            for metric_name, fn in (("precision", m.precision_score), ("recall", m.recall_score), ("f1", m.f1_score)):
                weighted = functools.partial(fn, average="weighted", sample_weight=sw, zero_division=0)
                add(metric_name, functools.partial(weighted, y, y_pred))
        if hasattr(estimator, "predict_proba"):
            proba = _try(lambda: estimator.predict_proba(X))
            if proba is not None:
                classes = getattr(estimator, "classes_", None)
                add("log_loss", lambda: m.log_loss(y, proba, labels=classes, sample_weight=sw))
                add("roc_auc", lambda: _roc_auc(y, proba, classes, sw))
    elif y is not None and is_regressor(estimator):
        y_pred = _try(lambda: estimator.predict(X))
        if y_pred is not None:
            add("mse", lambda: m.mean_squared_error(y, y_pred, sample_weight=sw))
            if prefix + "mse" in out:
                out[prefix + "rmse"] = math.sqrt(out[prefix + "mse"])
            add("mae", lambda: m.mean_absolute_error(y, y_pred, sample_weight=sw))
            add("r2", lambda: m.r2_score(y, y_pred, sample_weight=sw))
    add("score", lambda: _score(estimator, X, y, sw))
    return out


def _try(compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except Exception:  # noqa: BLE001 - the caller skips the metrics that need it
        return None


def _roc_auc(y: Any, proba: Any, classes: Any, sample_weight: Any) -> float:
    from sklearn.metrics import roc_auc_score

    if proba.ndim == 2 and proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1], sample_weight=sample_weight))
    return float(
        roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=classes, sample_weight=sample_weight)
    )


def _score(estimator: Any, X: Any, y: Any, sample_weight: Any) -> float:
    kwargs: dict[str, Any] = {}
    if sample_weight is not None and _accepts(estimator.score, "sample_weight", var_keyword=False):
        kwargs["sample_weight"] = sample_weight
    value = estimator.score(X, **kwargs) if y is None else estimator.score(X, y, **kwargs)
    return float(value)


def _log_search_results(client: Client, run_id: str, estimator: Any, metrics: dict[str, float]) -> None:
    """For GridSearchCV-like estimators: the best candidate's params and cross-validated score."""
    best_params = getattr(estimator, "best_params_", None)
    if isinstance(best_params, Mapping):
        params = {f"best_{k}": type(v).__name__ if _is_estimator(v) else str(v) for k, v in best_params.items()}
        client.log_params(
            run_id, {k: v for k, v in params.items() if len(v) <= MAX_PARAM_VALUE_LENGTH and _valid_key(k)}
        )
    best_score = getattr(estimator, "best_score_", None)
    if best_score is not None:
        metrics["best_cv_score"] = float(best_score)


def _log_model(client: Client, run_id: str, estimator: Any, config: _Config, X: Any) -> None:
    """Log the fitted estimator as a model package on the run; register it when a name is configured."""
    example = None
    if X is not None and callable(getattr(estimator, "predict", None)):
        try:
            example = X[:5]
        except Exception:  # noqa: BLE001 - some inputs (sparse, generators) give no example rows
            example = None
    name = config.registered_model_name
    client.registry.log_model(
        run_id, estimator, name or "model", input_example=example, register=name is not None, flavor="sklearn"
    )


# helpers ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def _accepts(fn: Callable[..., Any], name: str, *, var_keyword: bool = True) -> bool:
    """Whether ``fn`` takes a ``name`` argument (or, with ``var_keyword``, any ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    if name in params:
        return True
    return var_keyword and any(p.kind is p.VAR_KEYWORD for p in params.values())


def _dotted_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
