"""``modelyard demo``: a self-contained walkthrough of experiment tracking.

It trains logistic regressions and random forests over a small parameter grid on scikit-learn's
bundled breast-cancer dataset, as nested runs under one ``demo-sweep`` parent run, logging params,
metrics, a learning curve and artifacts through the fluent API, then shows the best runs.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer
from rich.markup import escape
from rich.table import Table

import modelyard as yard
from modelyard.cli._options import UriOption, open_client
from modelyard.cli._output import console, err_console, format_value, redact_url, run_cell
from modelyard.names import validate_name
from modelyard.settings import load_settings

if TYPE_CHECKING:
    import numpy as np

__all__ = ["app"]

app = typer.Typer(add_completion=False)

_GRID: list[tuple[str, dict[str, Any]]] = [
    *(("logreg", {"C": c}) for c in (0.01, 0.1, 1.0, 10.0)),
    *(("random_forest", {"n_estimators": n, "max_depth": d}) for n in (50, 100) for d in (3, None)),
]
_SEED = 0
_SHOWN_METRICS = ("roc_auc", "accuracy", "f1")


@app.command(name="demo")
def demo(
    uri: UriOption = None,
    project: Annotated[str, typer.Option("--project", "-p", help="Project the demo runs go to.")] = "demo",
) -> None:
    """Train a small model sweep on a bundled dataset and track it (about 10 seconds)."""
    validate_name(project, "project name")  # fail before the slow imports and the training
    settings = load_settings()
    location = settings.location(uri)
    yard.set_uri(uri)
    client = yard.get_client()  # opens (and on first use creates) the store: fails fast when unusable
    try:
        with err_console().status("Loading scikit-learn and the breast-cancer dataset..."):
            data = _load_data()
        started = time.perf_counter()
        parent_id = _sweep(data, project)
    finally:
        yard.set_uri(None)  # flushes, and leaves no client bound to this store behind
        client.close()

    with open_client(uri, project, settings) as reader:
        best = reader.search_runs(filter=f"parent_id = '{parent_id}'", order_by=["metrics.roc_auc desc"], limit=5)
    out = console()
    out.print(
        f"Trained {len(_GRID)} models in {time.perf_counter() - started:.1f}s as nested runs of "
        f"[bold]demo-sweep[/] ({parent_id}) in project [bold]{escape(project)}[/].",
        highlight=False,
    )
    table = Table(title="Top 5 runs by ROC AUC", title_justify="left")
    table.add_column("run", min_width=32)
    for key in _SHOWN_METRICS:
        table.add_column(key, justify="right")
    for run in best:
        table.add_row(run_cell(run), *(format_value(run.metrics.get(k)) for k in _SHOWN_METRICS))
    out.print(table)
    flag = f" --uri {shlex.quote(uri)}" if uri else ""
    project = shlex.quote(project)
    out.print(f"\nMetadata: {escape(redact_url(location.db_url))}", highlight=False, soft_wrap=True)
    out.print(f"Blobs:    {escape(redact_url(location.blobs_url))}", highlight=False, soft_wrap=True)
    out.print("\nNext steps:", style="bold")
    hints = [
        f"modelyard runs list --project {project}{flag}",
        f"modelyard runs list --project {project}{flag} --order-by 'metrics.roc_auc desc' "
        "--filter \"params.model = 'random_forest'\"",
    ]
    if best:
        hints.append(f"modelyard runs show {best[0].id}{flag}")
    if len(best) >= 2:
        hints.append(f"modelyard runs compare {best[0].id} {best[1].id}{flag}")
    for hint in hints:
        out.print(f"  {escape(hint)}", highlight=False, soft_wrap=True)


class _Data(NamedTuple):
    """The train/test split of the bundled dataset."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def _load_data() -> _Data:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, stratify=y, random_state=_SEED)
    return _Data(x_train, x_test, y_train, y_test)


def _curve(kind: str, params: dict[str, Any], data: _Data) -> Iterator[tuple[int, Any]]:
    """Fit the model in stages, yielding ``(step, model)`` after each: a short loss curve.

    Logistic regressions refit on growing shares of the training set (step: samples seen);
    random forests grow their trees in four stages (step: trees so far), at the cost of one fit.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logreg":
        for fraction in (0.25, 0.5, 0.75, 1.0):
            n = int(len(data.y_train) * fraction)
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, **params))
            yield n, model.fit(data.x_train[:n], data.y_train[:n])
        return
    forest = RandomForestClassifier(random_state=_SEED, warm_start=True, **params)
    for stage in range(1, 5):
        forest.set_params(n_estimators=params["n_estimators"] * stage // 4)
        yield forest.n_estimators, forest.fit(data.x_train, data.y_train)


def _run_name(kind: str, params: dict[str, Any]) -> str:
    if kind == "logreg":
        return f"logreg C={params['C']}"
    return f"forest n={params['n_estimators']} depth={params['max_depth']}"


def _sweep(data: _Data, project: str) -> str:
    """Train every grid point as a nested run under one parent; return the parent's id."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    )
    with progress, tempfile.TemporaryDirectory(prefix="modelyard-demo-") as tmp:
        task = progress.add_task("Training", total=len(_GRID))
        with yard.start_run(name="demo-sweep", project=project, tags={"demo": "true"}) as parent:
            yard.log_params(
                {
                    "dataset": "sklearn.datasets.load_breast_cancer",
                    "test_size": 0.25,
                    "seed": _SEED,
                    "n_train": len(data.y_train),
                    "n_test": len(data.y_test),
                    "grid_size": len(_GRID),
                }
            )
            best_name, best_auc = "", -1.0
            for kind, params in _GRID:
                name = _run_name(kind, params)
                progress.update(task, description=f"Training {name}")
                with yard.start_run(name=name, project=project, tags={"demo": "true", "model": kind}):
                    auc = _train_one(data, kind, params, Path(tmp) / name)
                if auc > best_auc:
                    best_name, best_auc = name, auc
                progress.advance(task)
            progress.update(task, description="Done")
            yard.log_metric("best_roc_auc", best_auc)
            yard.set_tags({"best_run": best_name})
    return str(parent.id)


def _train_one(data: _Data, kind: str, params: dict[str, Any], out_dir: Path) -> float:
    """Fit one model with a learning curve, log its metrics and artifacts; return its ROC AUC."""
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    yard.log_params({"model": kind, **params, "curve_step": "samples" if kind == "logreg" else "trees"})
    model: Any = None
    for step, model in _curve(kind, params, data):
        proba = model.predict_proba(data.x_test)[:, 1]
        yard.log_metrics(
            {
                "val_loss": float(log_loss(data.y_test, proba)),
                "val_accuracy": float(accuracy_score(data.y_test, proba >= 0.5)),
            },
            step=step,
        )
    pred = model.predict(data.x_test)
    auc = float(roc_auc_score(data.y_test, proba))
    yard.log_metrics(
        {
            "accuracy": float(accuracy_score(data.y_test, pred)),
            "f1": float(f1_score(data.y_test, pred)),
            "roc_auc": auc,
        }
    )

    out_dir.mkdir(parents=True)
    matrix = confusion_matrix(data.y_test, pred)
    lines = ["actual,predicted_malignant,predicted_benign"]
    lines += [f"{label},{row[0]},{row[1]}" for label, row in zip(("malignant", "benign"), matrix, strict=True)]
    (out_dir / "confusion_matrix.csv").write_text("\n".join(lines) + "\n")
    report = classification_report(data.y_test, pred, target_names=["malignant", "benign"], output_dict=True)
    (out_dir / "report.json").write_text(json.dumps({"model": kind, "params": params, "report": report}, indent=2))
    yard.log_artifact(out_dir / "confusion_matrix.csv")
    yard.log_artifact(out_dir / "report.json")
    return auc
