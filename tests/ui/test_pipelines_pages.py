"""Pipeline pages through the real app: the project's pipelines, a run's DAG data, steps and logs."""

from __future__ import annotations

from tests.ui._env import UiEnv


def test_pipelines_page_lists_pipelines_and_recent_runs(demo: UiEnv) -> None:
    demo.sign_in("vera")
    page = demo.http.get("/projects/demo/pipelines")
    assert page.status_code == 200
    assert "summary" in page.text and demo.ids["pipeline_run"] in page.text and "FINISHED" in page.text
    assert demo.http.get("/projects/nope/pipelines").status_code == 404


def test_a_pipeline_run_page_carries_its_dag_and_step_logs(demo: UiEnv) -> None:
    demo.sign_in("vera")
    run_id = demo.ids["pipeline_run"]
    page = demo.http.get(f"/pipelines/runs/{run_id}").text
    assert 'id="dag-data"' in page and 'data-step="report"' in page
    assert "preparing 20 rows" in page  # the step's captured output
    status = demo.http.get(f"/pipelines/runs/{run_id}/status").json()
    assert status["status"] == "FINISHED" and set(status["nodes"]) == {"prepare", "mean", "spread", "report"}
    assert ["prepare", "mean"] in status["edges"] and set(status["steps"].values()) == {"FINISHED"}


def test_an_empty_project_shows_how_to_run_a_pipeline(env: UiEnv) -> None:
    env.sign_in()
    page = env.http.get("/projects/p1/pipelines").text
    assert "No pipelines have run in p1 yet" in page and "@yard.pipeline" in page


def test_pipeline_pages_need_a_role(demo: UiEnv) -> None:
    demo.user("stranger")
    demo.sign_in("stranger")
    assert demo.http.get("/projects/demo/pipelines").status_code == 403
    assert demo.http.get(f"/pipelines/runs/{demo.ids['pipeline_run']}/status").status_code == 403


def test_registry_and_pipeline_pages_issue_a_bounded_number_of_queries(demo: UiEnv) -> None:
    import sqlalchemy as sa

    demo.sign_in()
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    engine = demo.state.store.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        budget = {
            "/projects/demo/models": 10,
            "/projects/demo/models/churn": 26,  # four service calls, each batched over versions
            "/projects/demo/models/churn/1": 34,  # the card: each run and dataset version read once, lineage walk
            "/projects/demo/pipelines": 12,  # pipelines, schedules, triggers, recent runs
            f"/pipelines/runs/{demo.ids['pipeline_run']}": 8,
            f"/runs/{demo.ids['baseline']}": 20,  # with the lineage graph (datasets -> run -> models)
            "/projects/demo/datasets/train/2": 18,  # with the validation report (versions, reading the file)
        }
        for url, most in budget.items():
            statements.clear()
            assert demo.http.get(url).status_code == 200, url
            assert len(statements) <= most, (url, len(statements), statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
