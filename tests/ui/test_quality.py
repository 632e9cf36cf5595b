"""The issue's quality rules over every page of a seeded project: an HTML page for a wrong address,
CSRF tokens in every form, escaping of every user-written value, empty states, queries per page,
the lineage graph, validation reports, pipeline schedules, and actions with authentication off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.client import Client
from modelyard.entities import Role
from modelyard.server import create_app
from modelyard.settings import Settings
from tests.ui._env import XSS, UiEnv
from tests.ui._seed import register_models


def pages(ids: dict[str, str]) -> list[str]:
    """Every GET page of the seeded ``demo`` project (one of each kind)."""
    run, pipeline = ids["baseline"], ids["pipeline_run"]
    return [
        "/", "/projects", "/projects/demo/runs", f"/runs/{run}", f"/runs/{pipeline}",
        f"/projects/demo/compare?run={run}&run={ids['wide']}&run={ids['deep']}",
        f"/runs/{run}/artifacts/predictions.csv", f"/runs/{run}/artifacts/report.json",
        "/projects/demo/datasets", "/projects/demo/datasets/train", "/projects/demo/datasets/train/1",
        "/projects/demo/datasets/train/2", "/projects/demo/datasets/train/diff?a=1&b=2",
        "/projects/demo/models", "/projects/demo/models/churn", "/projects/demo/models/churn/1",
        "/projects/demo/pipelines", f"/pipelines/runs/{pipeline}", "/projects/demo/members",
        "/audit", "/admin", "/tokens",
    ]  # fmt: skip


class _Forms(HTMLParser):
    """The post forms of a page and the hidden fields each carries; every control and its label."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.in_label = 0
        self.in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self.forms.append((a.get("action") or "", {}))
            self.in_form = True
        elif tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea"):
            if self.in_form and a.get("type") == "hidden" and a.get("name"):
                self.forms[-1][1][str(a["name"])] = a.get("value") or ""
            if a.get("type") not in ("hidden", "submit"):
                self.controls.append({**a, "_in_label": "1" if self.in_label else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False
        elif tag == "label":
            self.in_label -= 1


def test_a_wrong_address_is_an_html_page_for_a_browser_and_json_for_the_api(demo: UiEnv) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    r = demo.http.get("/no/such/page", headers=browser)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text and "/no/such/page" in r.text and "content-security-policy" in r.headers
    demo.sign_in()
    signed_in = demo.http.get("/projects/demo/nope/deeper", headers=browser)
    assert signed_in.status_code == 404 and "Signed in as <b>admin</b>" in signed_in.text
    wrong_method = demo.http.get("/signout", headers=browser)
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"].startswith("text/html")
    assert "POST" in wrong_method.headers["allow"]
    for url, headers in (("/api/v1/nope", browser), ("/no/such/page", {"Accept": "application/json"})):
        r = demo.http.get(url, headers=headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", url
    assert demo.http.get("/v2/nope", headers=browser).headers["content-type"].startswith("application/json")


def test_every_post_form_carries_the_session_csrf_token(demo: UiEnv) -> None:
    csrf = demo.sign_in()
    seen = 0
    for url in pages(demo.ids):
        r = demo.http.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        parser = _Forms()
        parser.feed(r.text)
        for action, hidden in parser.forms:
            assert hidden.get("csrf_token") == csrf, (url, action)
            seen += 1
    assert seen >= 10  # sign-out, new project, aliases, promotions, card, members, admin, tokens, ...


def test_every_form_control_has_a_label_and_every_page_a_skip_link(demo: UiEnv) -> None:
    demo.sign_in()
    for url in pages(demo.ids):
        text = demo.http.get(url).text
        assert '<a class="skip" href="#main">' in text and '<main id="main">' in text, url
        parser = _Forms()
        parser.feed(text)
        for control in parser.controls:
            labelled = control["_in_label"] or control.get("aria-label") or control.get("id") in parser.label_for
            assert labelled, (url, control)


def test_values_written_by_users_are_escaped_on_every_page(demo: UiEnv, tmp_path: Path) -> None:
    client = demo.client("demo")
    try:
        csv = tmp_path / "x.csv"
        csv.write_text("a,b\n1,x\n2,y\n")
        client.data.add(csv, name="train", message=XSS, tags={"why": XSS})
        client.registry.update_model("churn", description=XSS)
    finally:
        client.close()
    csrf = demo.sign_in()
    form = {"csrf_token": csrf, "overview": XSS, "limitations": XSS}
    assert demo.http.post("/projects/demo/models/churn/1/card", data=form, follow_redirects=False).status_code == 303
    urls = [*pages(demo.ids), "/projects/demo/datasets/train/3", f"/runs/{demo.ids['xss']}",
            "/projects/demo/runs?col=params.note&col=tags.why"]  # fmt: skip
    shown = 0
    for url in urls:
        text = demo.http.get(url).text
        assert XSS not in text, url
        shown += text.count("&lt;img src=x onerror=alert(1)&gt;")
    assert shown >= 8


def test_empty_states_of_every_list_tell_a_new_user_what_to_do(env: UiEnv, tmp_path: Path) -> None:
    env.sign_in()
    expected = {
        "/projects/p1/runs": "yard.start_run",
        "/projects/p1/datasets": "yard.data.add",
        "/projects/p1/models": "yard.log_model",
        "/projects/p1/pipelines": "@yard.pipeline",
        "/tokens": "Create",
    }
    for url, hint in expected.items():
        assert hint in env.http.get(url).text, url
    bare = env.run(name="bare")
    page = env.http.get(f"/runs/{bare}").text
    for hint in ("yard.log_metric", "yard.log_artifact", "yard.log_params", "yard.log_input", "yard.log_model"):
        assert hint in page, hint
    fresh = UiEnv(tmp_path / "fresh")
    with fresh.http:
        fresh.sign_in()
        projects = fresh.http.get("/projects").text
        assert "No projects yet" in projects and "yard.start_run" in projects
    fresh.close()


def test_the_model_lineage_is_a_graph_from_the_lineage_service(demo: UiEnv) -> None:
    demo.sign_in("vera")  # the seed put churn@1 in staging
    page = demo.http.get("/projects/demo/models/churn/1").text
    svg = page.split('<svg class="lineage"')[1].split("</svg>")[0]
    nodes = re.findall(r'data-node="([^"]+)"', svg)
    run = f"run:{demo.ids['baseline']}"
    assert nodes == ["dataset:demo/train@2", run, "model:demo/churn@1", "deployment:demo/churn/staging"]
    assert svg.count('class="edge ') == 3 and svg.count("marker-end=") == 3  # dataset -> run -> model -> env
    assert f'href="/runs/{demo.ids["baseline"]}"' in svg and 'href="/projects/demo/datasets/train/2"' in svg
    run_page = demo.http.get(f"/runs/{demo.ids['baseline']}").text
    assert "model:demo/churn@1" in run_page and "dataset:demo/train@2" in run_page


def test_lineage_follows_pipeline_step_outputs_and_hides_other_projects(demo: UiEnv, tmp_path: Path) -> None:
    demo.tracking.create_project("other")
    demo.user("olga", Role.VIEWER, project="demo")
    producer = demo.run("other", "make-data")  # a step of another project's pipeline made the data
    consumer = demo.run("demo", "use-data")
    client = demo.client("demo")
    try:
        csv = tmp_path / "made.csv"
        csv.write_text("a\n1\n2\n")
        made = client.data.add(csv, name="made")
        client.log_input(producer, made, role="output")
        client.log_input(consumer, made, role="train")
    finally:
        client.close()
    demo.sign_in()
    admin_view = demo.http.get(f"/runs/{consumer}").text
    assert f"run:{producer}" in admin_view and "dataset:demo/made@1" in admin_view
    demo.http.cookies.clear()
    demo.sign_in("olga")
    viewer = demo.http.get(f"/runs/{consumer}").text
    assert f"run:{producer}" not in viewer and "make-data" not in viewer and "left out" in viewer
    assert "dataset:demo/made@1" in viewer


def test_a_dataset_version_page_shows_its_validation_report(demo: UiEnv) -> None:
    demo.sign_in("vera")
    page = demo.http.get("/projects/demo/datasets/train/2").text  # against the schema of @1
    table = page.split('id="validation-table"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", table)
    assert set(rows) == {("id", "range"), ("amount", "range"), ("segment", "category")}
    assert "Invalid" in page and "99.5" in table and "z9" in table
    own = demo.http.get("/projects/demo/datasets/train/2?against=2").text
    assert 'id="validation-verdict"' in own and "402 rows pass every check" in own
    assert demo.http.get("/projects/demo/datasets/train/2?against=7").status_code == 400
    assert demo.http.get("/projects/demo/datasets/train/2?against=x").status_code == 400


def test_pipelines_page_lists_schedules_of_pipelines_that_never_ran(env: UiEnv) -> None:
    from modelyard.audit import Caller
    from modelyard.pipelines._scheduling import SchedulingService

    scheduling = SchedulingService(env.state.store, Caller(user="admin"))
    scheduling.schedule("p1", "nightly", "tests.ui._seed:summary", "0 3 * * *", params={"n": XSS})
    env.sign_in()
    page = env.http.get("/projects/p1/pipelines").text
    assert "No pipelines have run" not in page and "nightly" in page and "0 3 * * *" in page
    assert 'id="schedules-table"' in page and "tests.ui._seed:summary" in page and XSS not in page
    assert "No pipeline run yet" in page


@pytest.fixture
def no_auth(tmp_path: Path) -> Iterator[tuple[TestClient, Client]]:
    root = tmp_path / "open"
    settings = Settings(home=root / "home", uri=str(root / "store"), blobs=str(root / "blobs"), auth=False)
    app = create_app(settings)
    client = Client(str(root / "store"), project="demo", settings=settings)
    try:
        with TestClient(app) as http:
            yield http, client
    finally:
        client.close()
        app.state.modelyard.store.close()


def test_without_authentication_the_local_user_can_use_every_action(no_auth: tuple[TestClient, Client]) -> None:
    http, client = no_auth
    from modelyard.ids import new_run_id

    ids = {name: new_run_id() for name in ("baseline", "wide")}
    for name, run_id in ids.items():
        client.backend.create_run(run_id=run_id, project="demo", name=name)
    register_models(client, ids)
    same_site = {"Origin": "http://testserver"}
    page = http.get("/projects/demo/models/churn").text
    assert "Set alias" in page and ">Request<" in page
    assert "Edit the model card" in http.get("/projects/demo/models/churn/2").text
    r = http.post("/projects/demo/models/churn/aliases", data={"alias": "champion", "version": "2"}, headers=same_site)
    assert r.status_code == 200 and "champion</b> → <a" in r.text and "@2" in r.text
    form = {"version": "2", "environment": "production", "reason": "ok"}
    r = http.post("/projects/demo/models/churn/promotions", data=form, headers=same_site)
    assert r.status_code == 200 and "Approve" in r.text  # the local user may also approve
    request_id = r.text.split('id="promotions-table"')[1].split("<td>")[1].split("</td>")[0]
    decision = {"decision": "approve", "reason": "fine"}
    r = http.post(f"/projects/demo/models/churn/promotions/{request_id}", data=decision, headers=same_site)
    assert r.status_code == 200 and "APPROVED" in r.text
    assert client.registry.get_model("churn").environments == {"staging": 1, "production": 2}


def test_every_page_issues_a_bounded_number_of_queries(demo: UiEnv) -> None:
    """No N+1 loop on any page: each page's statements, counted, stay within a small budget."""
    import sqlalchemy as sa

    demo.sign_in()
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    # The model version page assembles the model card (its datasets, promotions and lineage walk):
    # its budget grows with the lineage graph, not with lists on the page.
    budgets = {"/projects/demo/models/churn/1": 50, "/projects/demo/models/churn": 26}
    engine = demo.state.store.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for url in pages(demo.ids):
            statements.clear()
            assert demo.http.get(url).status_code == 200, url
            assert len(statements) <= budgets.get(url, 20), (url, len(statements))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_an_admin_makes_a_one_time_signin_link_that_works_once(env: UiEnv) -> None:
    env.user("lin", Role.VIEWER)
    csrf = env.sign_in()
    page = env.http.post("/admin/users/lin/link", data={"csrf_token": csrf})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    found = re.search(r'id="new-secret">([^<]+)<', page.text)
    assert found is not None and "/auth/link?token=" in found.group(1)
    path = "/auth/link?" + found.group(1).split("/auth/link?", 1)[1]
    env.http.cookies.clear()
    r = env.http.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Signed in as <b>lin</b>" in env.http.get("/projects").text
    env.http.cookies.clear()
    again = env.http.get(path)
    assert again.status_code == 401 and "Traceback" not in again.text
