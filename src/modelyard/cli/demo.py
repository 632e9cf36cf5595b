"""``modelyard demo``: a self-contained walkthrough of a tracked training pipeline.

The ``demo-training`` pipeline ingests scikit-learn's bundled breast-cancer data (stored as a
dataset version), validates it against a schema inferred from it plus the domain's rules (refusing
bad data), trains logistic regressions and random forests over a small grid in parallel (each
candidate its own step run with params, a learning curve, metrics and artifacts), evaluates them
and registers the best as a model version with the alias ``champion``. Every step logs through the
fluent API to its own step run; lineage links the champion back to the dataset version.
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
    import pandas as pd

    from modelyard.entities import PipelineRun
    from modelyard.pipelines import Pipeline

__all__ = ["MODEL_NAME", "PIPELINE_NAME", "app", "check_data", "demo_pipeline"]

app = typer.Typer(add_completion=False)

PIPELINE_NAME = "demo-training"
"""The demo's pipeline (its dataset version is ``demo-training.ingest@N``)."""
MODEL_NAME = "breast-cancer"
"""The registered model the champion becomes a version of."""

_GRID: list[tuple[str, dict[str, Any]]] = [
    *(("logreg", {"C": c}) for c in (0.01, 0.1, 1.0, 10.0)),
    *(("random_forest", {"n_estimators": n, "max_depth": d}) for n in (50, 100) for d in (3, None)),
]
_SEED = 0
_TEST_SIZE = 0.25
_MIN_ROWS = 100
_SHOWN_METRICS = ("roc_auc", "accuracy", "f1")
_LABELS = {
    "ingest": "Ingesting the breast-cancer data",
    "validate": "Validating it against its schema",
    "evaluate": "Evaluating the candidates",
    "register": "Registering the champion",
}


@app.command(name="demo")
def demo(
    uri: UriOption = None,
    project: Annotated[str, typer.Option("--project", "-p", help="Project the demo runs go to.")] = "demo",
) -> None:
    """Run a training pipeline on a bundled dataset: ingest, validate, train in parallel, register."""
    validate_name(project, "project name")  # fail before the slow imports and the training
    settings = load_settings()
    location = settings.location(uri)
    yard.set_uri(uri)
    client = yard.get_client()  # opens (and on first use creates) the store: fails fast when unusable
    try:
        with err_console().status("Loading scikit-learn..."):
            import sklearn.ensemble
            import sklearn.linear_model  # noqa: F401 - imported once here, not by the parallel steps
        started = time.perf_counter()
        run = _run(demo_pipeline(), project)
    finally:
        yard.set_uri(None)  # flushes, and leaves no client bound to this store behind
        client.close()
    elapsed = time.perf_counter() - started

    champion = run.output("register")
    with open_client(uri, project, settings) as reader:
        best = reader.search_runs(
            filter=f"parent_id = '{run.id}' and metrics.roc_auc > 0", order_by=["metrics.roc_auc desc"], limit=5
        )
    out = console()
    out.print(
        f"Ran pipeline [bold]{PIPELINE_NAME}[/] ({run.id}) in {elapsed:.1f}s in project [bold]{escape(project)}[/]: "
        f"{len(run.steps)} step runs, {len(_GRID)} candidates trained in parallel; dataset "
        f"[bold]{escape(run.step('ingest').outputs[0].ref or '')}[/].",
        highlight=False,
    )
    out.print(
        f"Champion: [bold]{MODEL_NAME}@champion[/] = version {champion['version']} "
        f"({escape(champion['candidate'])}, ROC AUC {champion['roc_auc']:.4f}).",
        highlight=False,
    )
    table = Table(title="Top 5 runs by ROC AUC", title_justify="left")
    table.add_column("run", min_width=32)
    table.add_column("candidate")
    for key in _SHOWN_METRICS:
        table.add_column(key, justify="right")
    for found in best:
        table.add_row(
            run_cell(found),
            found.tags.get("candidate", ""),
            *(format_value(found.metrics.get(k)) for k in _SHOWN_METRICS),
        )
    out.print(table)
    flag = f" --uri {shlex.quote(uri)}" if uri else ""
    project = shlex.quote(project)
    out.print(f"\nMetadata: {escape(redact_url(location.db_url))}", highlight=False, soft_wrap=True)
    out.print(f"Blobs:    {escape(redact_url(location.blobs_url))}", highlight=False, soft_wrap=True)
    out.print("\nNext steps:", style="bold")
    hints = [
        f"modelyard pipelines show {run.id}{flag}",
        f"modelyard runs list --project {project}{flag} --order-by 'metrics.roc_auc desc' "
        "--filter \"params.model = 'random_forest'\"",
        f"modelyard models lineage {MODEL_NAME}@champion --project {project}{flag}",
    ]
    if len(best) >= 2:
        hints.append(f"modelyard runs compare {best[0].id} {best[1].id}{flag}")
    for hint in hints:
        out.print(f"  {escape(hint)}", highlight=False, soft_wrap=True)


def _run(pipeline: Pipeline, project: str) -> PipelineRun:
    """Run the pipeline with a live progress bar of its steps."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    )
    total = len(_GRID) + 4
    running: set[str] = set()

    def on_step(name: str, status: str) -> None:
        if status == "RUNNING":
            running.add(name)
        elif status != "PENDING":
            running.discard(name)
            progress.advance(task)
        training = sum(1 for n in running if n.startswith("train_candidate"))
        if training:
            description = f"Training candidates ({training} running)"
        else:
            description = next((_LABELS[n] for n in sorted(running) if n in _LABELS), "Working")
        progress.update(task, description=description)

    with progress:
        task = progress.add_task("Starting", total=total)
        run: PipelineRun = pipeline.run(project=project, progress=on_step)
        progress.update(task, description="Done")
    return run


# The pipeline --------------------------------------------------------------------------------


class _Split(NamedTuple):
    """The train/test split of the dataset."""

    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray


def _split(data: pd.DataFrame, test_size: float, seed: int) -> _Split:
    from sklearn.model_selection import train_test_split

    x = data.drop(columns=["target"])
    y = data["target"].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    return _Split(x_train, x_test, y_train, y_test)


def check_data(data: pd.DataFrame) -> tuple[Any, Any]:
    """The schema of ``data`` (inferred, tightened with the domain's rules) and the validation report.

    Rules: at least 100 rows; every measurement present and non-negative; the target present and
    0 (malignant) or 1 (benign).
    """
    from modelyard.data import infer_schema, validate

    schema = infer_schema(data)
    columns = []
    for column in schema.columns:
        rules: dict[str, Any] = {"nullable": False, "max_null_fraction": 0.0, "unique": False, "max": None}
        rules.update({"min": 0, "max": 1} if column.name == "target" else {"min": 0})
        columns.append(column.model_copy(update=rules))
    if "target" not in {c.name for c in columns}:
        raise ValueError("the data has no 'target' column (0 = malignant, 1 = benign).")
    schema = schema.model_copy(update={"columns": columns})
    report = validate(data, schema)
    return schema, report


def _ingest() -> pd.DataFrame:
    """The bundled breast-cancer data: 30 measurements and the target, one row per tumour."""
    from sklearn.datasets import load_breast_cancer

    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    yard.log_params({"source": "sklearn.datasets.load_breast_cancer", "rows": len(frame)})
    return frame


def _validate(data: pd.DataFrame) -> dict[str, Any]:
    """Refuse data that breaks the schema (the pipeline stops before any training)."""
    schema, report = check_data(data)
    with tempfile.TemporaryDirectory(prefix="modelyard-demo-") as tmp:
        (Path(tmp) / "schema.json").write_text(schema.model_dump_json(indent=2))
        (Path(tmp) / "validation.json").write_text(report.model_dump_json(indent=2))
        yard.log_artifact(Path(tmp) / "schema.json")
        yard.log_artifact(Path(tmp) / "validation.json")
    errors = [f for f in report.failures if f.severity == "error"]
    yard.log_params({"columns": len(schema.columns), "rows": report.num_rows})
    yard.log_metric("validation_errors", float(len(errors)))
    if errors or report.num_rows < _MIN_ROWS:
        problems = "; ".join(f"{f.column}: {f.message}" for f in errors[:5])
        if report.num_rows < _MIN_ROWS:
            problems = "; ".join(p for p in (problems, f"{report.num_rows} rows, fewer than {_MIN_ROWS}") if p)
        raise ValueError(f"the data was refused by validation: {problems}")
    return {"ok": True, "rows": report.num_rows, "columns": len(schema.columns)}


def _curve(kind: str, params: dict[str, Any], split: _Split, seed: int) -> Iterator[tuple[int, Any]]:
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
            n = int(len(split.y_train) * fraction)
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, **params))
            yield n, model.fit(split.x_train[:n], split.y_train[:n])
        return
    forest = RandomForestClassifier(random_state=seed, warm_start=True, n_jobs=1, **params)
    for stage in range(1, 5):
        forest.set_params(n_estimators=params["n_estimators"] * stage // 4)
        yield forest.n_estimators, forest.fit(split.x_train, split.y_train)


def _fit(kind: str, params: dict[str, Any], split: _Split, seed: int) -> Any:
    *_, (_, model) = _curve(kind, params, split, seed)
    return model


def _candidate_name(kind: str, params: dict[str, Any]) -> str:
    if kind == "logreg":
        return f"logreg C={params['C']}"
    return f"forest n={params['n_estimators']} depth={params['max_depth']}"


def _train_candidate(
    data: pd.DataFrame, report: dict[str, Any], kind: str, params: dict[str, Any], test_size: float, seed: int
) -> dict[str, Any]:
    """Fit one candidate with a learning curve, log its metrics and artifacts; return its scores."""
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    assert report["ok"]
    split = _split(data, test_size, seed)
    name = _candidate_name(kind, params)
    yard.set_tags({"demo": "true", "model": kind, "candidate": name})
    yard.log_params({"model": kind, **params, "curve_step": "samples" if kind == "logreg" else "trees"})
    model: Any = None
    for step, model in _curve(kind, params, split, seed):
        proba = model.predict_proba(split.x_test)[:, 1]
        yard.log_metrics(
            {
                "val_loss": float(log_loss(split.y_test, proba)),
                "val_accuracy": float(accuracy_score(split.y_test, proba >= 0.5)),
            },
            step=step,
        )
    pred = model.predict(split.x_test)
    scores = {
        "accuracy": float(accuracy_score(split.y_test, pred)),
        "f1": float(f1_score(split.y_test, pred)),
        "roc_auc": float(roc_auc_score(split.y_test, proba)),
    }
    yard.log_metrics(scores)
    with tempfile.TemporaryDirectory(prefix="modelyard-demo-") as tmp:
        matrix = confusion_matrix(split.y_test, pred)
        lines = ["actual,predicted_malignant,predicted_benign"]
        lines += [f"{label},{row[0]},{row[1]}" for label, row in zip(("malignant", "benign"), matrix, strict=True)]
        (Path(tmp) / "confusion_matrix.csv").write_text("\n".join(lines) + "\n")
        text = classification_report(split.y_test, pred, target_names=["malignant", "benign"], output_dict=True)
        (Path(tmp) / "report.json").write_text(json.dumps({"model": kind, "params": params, "report": text}, indent=2))
        yard.log_artifact(Path(tmp) / "confusion_matrix.csv")
        yard.log_artifact(Path(tmp) / "report.json")
    return {"candidate": name, "kind": kind, "params": params, **scores}


def _evaluate(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pick the candidate with the best ROC AUC (ties: the better accuracy, then the first)."""
    best = max(results, key=lambda r: (r["roc_auc"], r["accuracy"]))
    yard.log_params({"candidates": len(results), "best_candidate": best["candidate"]})
    yard.log_metric("best_roc_auc", best["roc_auc"])
    with tempfile.TemporaryDirectory(prefix="modelyard-demo-") as tmp:
        rows = ["candidate,roc_auc,accuracy,f1"]
        ranked = sorted(results, key=lambda r: (-r["roc_auc"], -r["accuracy"]))
        rows += [f"{r['candidate']},{r['roc_auc']:.6f},{r['accuracy']:.6f},{r['f1']:.6f}" for r in ranked]
        (Path(tmp) / "leaderboard.csv").write_text("\n".join(rows) + "\n")
        yard.log_artifact(Path(tmp) / "leaderboard.csv")
    return best


def _register(data: pd.DataFrame, best: dict[str, Any], test_size: float, seed: int) -> dict[str, Any]:
    """Refit the best candidate (deterministically), log it as a model version and make it ``champion``."""
    split = _split(data, test_size, seed)
    model = _fit(best["kind"], best["params"], split, seed)
    version = yard.log_model(model, MODEL_NAME, input_example=split.x_train.head(5))
    assert not isinstance(version, yard.models.ModelPackage)
    yard.get_client().registry.set_alias(MODEL_NAME, "champion", version.version, project=version.project)
    yard.log_params({"candidate": best["candidate"], "model_version": version.version})
    return {"model": MODEL_NAME, "version": version.version, "candidate": best["candidate"], "roc_auc": best["roc_auc"]}


_pipeline: Pipeline | None = None


def demo_pipeline() -> Pipeline:
    """The ``demo-training`` pipeline: ingest -> validate -> train candidates -> evaluate -> register."""
    global _pipeline
    if _pipeline is None:
        ingest = yard.step(name="ingest")(_ingest)
        validate = yard.step(name="validate")(_validate)
        train_candidate = yard.step(name="train_candidate")(_train_candidate)
        evaluate = yard.step(name="evaluate")(_evaluate)
        register = yard.step(name="register")(_register)

        def demo_training(test_size: float = _TEST_SIZE, seed: int = _SEED) -> Any:
            data = ingest()
            report = validate(data)
            results = [train_candidate(data, report, kind, params, test_size, seed) for kind, params in _GRID]
            return register(data, evaluate(results), test_size, seed)

        _pipeline = yard.pipeline(name=PIPELINE_NAME)(demo_training)
    return _pipeline
