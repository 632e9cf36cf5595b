"""Every UI page through the real app (Starlette's TestClient): status, escaping, empty states, errors
as pages (never a stack trace), sessions, CSRF on forms, roles, and chart data."""

from __future__ import annotations

import json
import re

import pytest

from modelyard.entities import Role
from tests.ui._env import XSS, UiEnv
from tests.ui._seed import png


def _html(r: object) -> str:
    response = r  # a TestClient response
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]  # type: ignore[attr-defined]
    text: str = response.text  # type: ignore[attr-defined]
    assert "Traceback" not in text and 'File "' not in text
    return text


def test_unauthenticated_visits_redirect_to_signin_and_come_back_after(env: UiEnv) -> None:
    env.user("kim", Role.VIEWER)
    r = env.http.get("/projects/p1/runs?q=x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Fprojects%2Fp1%2Fruns%3Fq%3Dx"
    page = env.http.get(r.headers["location"])
    token = page.text.split("name='form_token' value='")[1].split("'")[0]
    form = {"form_token": token, "name": "kim", "password": "correct horse battery", "next": "/projects/p1/runs"}
    r = env.http.post("/signin", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/projects/p1/runs"
    assert "Signed in as <b>kim</b>" in env.http.get("/projects/p1/runs").text


def test_signin_never_redirects_to_another_site(env: UiEnv) -> None:
    env.user("kim")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        page = env.http.get("/signin", params={"next": target})
        token = page.text.split("name='form_token' value='")[1].split("'")[0]
        form = {"form_token": token, "name": "kim", "password": "correct horse battery", "next": target}
        r = env.http.post("/signin", data=form, follow_redirects=False)
        assert r.headers["location"] == "/"
        env.http.cookies.clear()


def test_an_expired_or_revoked_session_redirects_to_signin(env: UiEnv) -> None:
    env.sign_in()
    cookie = env.http.cookies.get("modelyard_session")
    assert env.http.get("/projects").status_code == 200
    env.accounts.revoke_session(cookie or "")
    r = env.http.get("/projects", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert "modelyard_session=" in r.headers.get("set-cookie", "")  # the dead cookie is cleared


def test_every_page_renders_for_an_admin(env: UiEnv, tmp_path: object) -> None:
    parent = env.run(name="parent", params={"C": 1}, metrics={"loss": [3, 2, 1]}, tags={"team": "risk"})
    child = env.run(name="child", params={"C": 2}, metrics={"loss": [2, 1]}, parent=parent)
    env.sign_in()
    pages = [
        "/", "/projects", "/projects/p1/runs", f"/runs/{parent}", f"/projects/p1/compare?run={parent}&run={child}",
        "/projects/p1/datasets", "/projects/p1/members", "/audit", "/admin", "/tokens",
    ]  # fmt: skip
    for url in pages:
        r = env.http.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        text = _html(r)
        assert "Signed in as <b>admin</b>" in text and "<script>" not in text and " style=" not in text, url
        assert "content-security-policy" in r.headers
    runs = env.http.get("/projects/p1/runs").text
    assert 'data-parent="' + parent + '"' in runs  # the child is folded under its parent
    assert env.http.get("/projects/p1").status_code == 200  # redirects to the runs


def test_values_are_escaped_everywhere(env: UiEnv) -> None:
    run_id = env.run(name=XSS, params={"p": XSS}, metrics={"m": [1.0]}, tags={"t": XSS})
    other = env.run(name="plain", params={"p": "1"})
    env.sign_in()
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    for url in (
        "/projects/p1/runs?col=params.p&col=tags.t",
        f"/runs/{run_id}",
        f"/projects/p1/compare?run={run_id}&run={other}",
        "/audit",
    ):
        text = _html(env.http.get(url))
        assert XSS not in text, url
        assert escaped in text or "\\u003cimg" in text, url
    # the compare page's JSON data block cannot close its script element either
    compare = env.http.get(f"/projects/p1/compare?run={run_id}&run={other}").text
    block = compare.split('id="compare-data">')[1].split("</script>")[0]
    assert "<" not in block and json.loads(block)["runs"][0]["name"] == XSS


def test_empty_states_tell_a_new_user_what_to_do(env: UiEnv) -> None:
    env.sign_in()
    runs = _html(env.http.get("/projects/p1/runs"))
    assert "No runs in p1 yet" in runs and "yard.start_run" in runs
    datasets = _html(env.http.get("/projects/p1/datasets"))
    assert "No datasets in p1 yet" in datasets and "yard.data.add" in datasets
    assert "No run matches this filter" in env.http.get("/projects/p1/runs?q=params.x+%3D+%27y%27").text
    models = _html(env.http.get("/projects/p1/models"))
    assert "No models in p1 yet" in models and "yard.log_model" in models
    run_id = env.run(name="bare")
    page = env.http.get(f"/runs/{run_id}").text
    assert "No metrics yet" in page and "No artifacts" in page and "No params" in page


def test_a_malformed_filter_is_shown_inline_with_400(env: UiEnv) -> None:
    env.run(name="a")
    env.sign_in()
    r = env.http.get("/projects/p1/runs", params={"q": "metrics.loss >"})
    assert r.status_code == 400
    text = _html(r)
    assert 'role="alert"' in text and "expected a value" in text and 'value="metrics.loss &gt;"' in text
    r = env.http.get("/projects/p1/runs", params={"sort": "bogus"})
    assert r.status_code == 400 and "unknown column" in r.text
    r = env.http.get("/projects/p1/runs", params={"page": "not-a-token"})
    assert r.status_code == 400 and 'role="alert"' in r.text


def test_unknown_ids_and_bad_input_get_pages_with_the_right_status(env: UiEnv) -> None:
    env.sign_in()
    cases = {
        "/runs/0123456789abcdef0123456789abcdef": 404,
        "/runs/not-a-run-id": 404,
        "/projects/nope/runs": 404,
        "/projects/p1/datasets/nope": 404,
        "/projects/p1/datasets/nope/3": 404,
        "/projects/p1/datasets/nope/abc": 400,
        "/projects/p1/compare?run=0123456789abcdef0123456789abcdef": 400,
        "/static/../templates/base.html": 404,
        "/static/js/missing.js": 404,
    }
    for url, status in cases.items():
        r = env.http.get(url)
        assert r.status_code == status, (url, r.status_code, r.text[:300])
        if not url.startswith("/static"):
            text = _html(r)
            assert "<h1>" in text and 'role="alert"' in text


def test_missing_permission_is_a_403_page(env: UiEnv) -> None:
    env.user("vic", Role.VIEWER)
    env.tracking.create_project("secret")
    run_id = env.run("secret", name="hidden")
    csrf = env.sign_in("vic")
    for url in ("/projects/secret/runs", f"/runs/{run_id}", "/admin", "/audit", "/audit?project=p1"):
        r = env.http.get(url)
        assert r.status_code == 403, url
        assert "Not allowed" in _html(r)
    projects = env.http.get("/projects").text
    assert ">p1<" in projects and "secret" not in projects  # only projects with a role are listed
    r = env.http.post("/projects/p1/members", data={"csrf_token": csrf, "user": "vic", "role": "admin"})
    assert r.status_code == 403 and "needs the admin role" in r.text
    assert env.accounts.role_for(env.accounts.get_user("vic"), "p1") == Role.VIEWER


def test_forms_need_the_session_csrf_token(env: UiEnv) -> None:
    env.user("amy")
    csrf = env.sign_in()
    r = env.http.post("/projects/p1/members", data={"user": "amy", "role": "editor"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = env.http.post("/projects/p1/members", data={"csrf_token": "wrong", "user": "amy", "role": "editor"})
    assert r.status_code == 403
    r = env.http.post(
        "/projects/p1/members", data={"csrf_token": csrf, "user": "amy", "role": "editor"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert env.accounts.role_for(env.accounts.get_user("amy"), "p1") == Role.EDITOR
    assert "amy" in env.http.get("/projects/p1/members").text


def test_admin_creates_users_and_tokens_and_the_secret_is_shown_once(env: UiEnv) -> None:
    csrf = env.sign_in()
    form = {"csrf_token": csrf, "name": "ci", "kind": "service"}
    r = env.http.post("/admin/users", data=form, follow_redirects=False)
    assert r.status_code == 303
    r = env.http.post("/admin/tokens", data={"csrf_token": csrf, "user": "ci", "name": "deploy"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-secret">(myd_[^<]+)<', r.text)
    assert secret is not None
    whoami = env.http.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert whoami.json()["name"] == "ci"
    assert secret.group(1) not in env.http.get("/admin").text  # listed by prefix only, never again in full
    r = env.http.post("/admin/users/ci", data={"csrf_token": csrf, "change": "disable"}, follow_redirects=False)
    assert r.status_code == 303 and env.accounts.get_user("ci").disabled
    r = env.http.post("/admin/users/ci", data={"csrf_token": csrf, "change": "explode"})
    assert r.status_code == 400 and "change" in r.text


def test_users_manage_their_own_tokens(env: UiEnv) -> None:
    env.user("tom")
    csrf = env.sign_in("tom")
    r = env.http.post("/tokens", data={"csrf_token": csrf, "name": "laptop", "expires_in_days": "30"})
    assert r.status_code == 200 and "myd_" in r.text
    token = env.accounts.list_tokens("tom")[0]
    r = env.http.post(f"/tokens/{token.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and env.accounts.get_token(token.id).revoked_at is not None
    admin_token = env.accounts.list_tokens("admin")
    if admin_token:
        r = env.http.post(f"/tokens/{admin_token[0].id}/revoke", data={"csrf_token": csrf})
        assert r.status_code == 403


def test_chart_data_is_compact_and_keeps_spikes(env: UiEnv) -> None:
    values = [1.0] * 20_000
    values[12_345] = 50.0  # one spike in 20,000 points
    run_id = env.run(name="long", metrics={"loss": values})
    short = env.run(name="short", metrics={"loss": [3.0, 2.0, 1.0]})
    env.sign_in()
    data = env.http.get(f"/runs/{run_id}/chart-data", params={"key": "loss"}).json()
    assert data["points"] == 20_000 and not data["raw"] and len(data["step"]) <= 1000
    assert max(data["max"]) == 50.0 and min(data["min"]) == 1.0 and data["time"] is None
    raw = env.http.get(f"/runs/{short}/chart-data", params={"key": "loss"}).json()
    assert raw["raw"] and raw["avg"] == [3.0, 2.0, 1.0] and raw["step"] == [0, 1, 2] and len(raw["time"]) == 3
    assert env.http.get(f"/runs/{short}/chart-data", params={"key": "nope"}).json()["step"] == []


def test_artifact_previews(env: UiEnv, tmp_path: object) -> None:
    from pathlib import Path

    run_id = env.run(name="arts")
    folder = Path(str(tmp_path)) / "arts"
    folder.mkdir()
    (folder / "plot.png").write_bytes(png())
    (folder / "rows.csv").write_text("a,b\n" + "".join(f"{i},{XSS}\n" for i in range(80)))
    (folder / "m.json").write_text('{"b": 1, "a": [1, 2]}')
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 4)
    env.tracking.log_artifacts(run_id, [(folder / n, n) for n in ("plot.png", "rows.csv", "m.json", "blob.bin")])
    env.sign_in()
    csv_page = _html(env.http.get(f"/runs/{run_id}/artifacts/rows.csv"))
    assert csv_page.count("<tr>") == 51 and XSS not in csv_page  # header + the first 50 rows, escaped
    assert "&#34;a&#34;: [" in env.http.get(f"/runs/{run_id}/artifacts/m.json").text  # pretty-printed
    assert "No preview" in env.http.get(f"/runs/{run_id}/artifacts/blob.bin").text
    image = env.http.get(f"/runs/{run_id}/raw/plot.png")
    assert image.headers["content-type"] == "image/png" and image.content == png()
    download = env.http.get(f"/runs/{run_id}/raw/rows.csv")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert env.http.get(f"/runs/{run_id}/artifacts/missing.txt").status_code == 404
    assert env.http.get(f"/runs/{run_id}/artifacts/..%2F..%2Fetc%2Fpasswd").status_code in (400, 404)


def test_dataset_pages(env: UiEnv, tmp_path: object) -> None:
    from pathlib import Path

    csv = Path(str(tmp_path)) / "d.csv"
    csv.write_text("x,cat\n" + "".join(f"{i},{'abc'[i % 3]}\n" for i in range(100)))
    client = env.client("p1")
    try:
        client.data.add(csv, name="d")
        csv.write_text("x,cat\n" + "".join(f"{i},{'abcd'[i % 4]}\n" for i in range(150)))
        client.data.add(csv, name="d")
    finally:
        client.close()
    env.sign_in()
    assert ">d<" in _html(env.http.get("/projects/p1/datasets")).replace("<b>", "").replace("</b>", "")
    versions = _html(env.http.get("/projects/p1/datasets/d"))
    assert "@2" in versions and "Compare versions" in versions
    version = _html(env.http.get("/projects/p1/datasets/d/2"))
    assert 'id="profile-data"' in version and 'data-profile="x"' in version and "schema-table" in version
    charts = json.loads(version.split('id="profile-data">')[1].split("</script>")[0])
    assert sum(charts["x"]["histogram"]["counts"]) == 150 and {t["value"] for t in charts["cat"]["top"]} == set("abcd")
    diff = _html(env.http.get("/projects/p1/datasets/d/diff?a=1&b=2"))
    assert "100" in diff and "150" in diff and "changed" in diff


def test_static_assets_are_served_with_their_types(env: UiEnv) -> None:
    for path, kind in [
        ("/static/app.css", "text/css"),
        ("/static/js/charts.js", "text/javascript"),
        ("/static/vendor/uplot/uPlot.iife.min.js", "text/javascript"),
    ]:
        r = env.http.get(path)  # public: no session needed
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path


@pytest.mark.parametrize("runs", [3, 30])
def test_pages_issue_a_bounded_number_of_queries(env: UiEnv, runs: int) -> None:
    """No N+1: the number of SQL statements per page does not grow with the number of runs shown."""
    import sqlalchemy as sa

    ids = [env.run(name=f"r{i}", params={"a": i}, metrics={"m": [i, i + 1]}, tags={"t": "v"}) for i in range(runs)]
    for i in range(runs // 3):
        env.run(name=f"child{i}", parent=ids[0])
    env.sign_in()
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    engine = env.state.store.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        budget = {
            "/projects": 8,
            "/projects/p1/runs": 10,
            f"/runs/{ids[0]}": 14,
            "/projects/p1/compare?" + "&".join(f"run={i}" for i in ids[:10]): 10,
            "/audit": 6,
            "/admin": 8,
        }
        for url, most in budget.items():
            statements.clear()
            assert env.http.get(url).status_code == 200
            assert len(statements) <= most, (url, len(statements), statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_forms_from_another_site_are_refused_even_without_auth(tmp_path: object) -> None:
    from pathlib import Path

    from fastapi.testclient import TestClient

    from modelyard.server import create_app
    from modelyard.settings import Settings

    root = Path(str(tmp_path))
    app = create_app(Settings(home=root / "h", uri=str(root / "s"), blobs=str(root / "b"), auth=False))
    try:
        with TestClient(app) as http:
            assert http.get("/projects").status_code == 200  # auth off: the local user is admin
            evil = {"Origin": "https://evil.example"}
            r = http.post("/projects", data={"name": "planted"}, headers=evil)
            assert r.status_code == 403 and "another site" in r.text
            r = http.post("/projects", data={"name": "planted"}, headers={"Sec-Fetch-Site": "cross-site"})
            assert r.status_code == 403
            same = {"Origin": "http://testserver"}
            r = http.post("/projects", data={"name": "mine"}, headers=same, follow_redirects=False)
            assert r.status_code == 303
            names = [p["name"] for p in http.get("/api/v1/projects").json()]
            assert names == ["mine"]
    finally:
        app.state.modelyard.store.close()
