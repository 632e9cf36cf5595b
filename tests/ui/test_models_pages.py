"""Model registry pages through the real app: list, model, version, alias and promotion actions by role."""

from __future__ import annotations

from modelyard.entities import Role
from tests.ui._env import UiEnv


def test_models_pages_render_with_versions_aliases_and_lineage(demo: UiEnv) -> None:
    demo.sign_in()
    listing = demo.http.get("/projects/demo/models").text
    assert "churn" in listing and "champion → @1" in listing
    model = demo.http.get("/projects/demo/models/churn")
    assert model.status_code == 200 and 'id="versions-table"' in model.text and "Set alias" in model.text
    version = demo.http.get("/projects/demo/models/churn/1").text
    assert "train@2" in version and "sklearn" in version.lower() and 'class="lineage"' in version
    assert demo.http.get("/projects/demo/models/nope").status_code == 404
    assert demo.http.get("/projects/demo/models/churn/9").status_code == 404


def test_an_editor_moves_an_alias_and_the_history_shows_it(demo: UiEnv) -> None:
    csrf = demo.sign_in("ed")
    r = demo.http.post(
        "/projects/demo/models/churn/aliases",
        data={"csrf_token": csrf, "alias": "champion", "version": "2"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = demo.http.get(r.headers["location"]).text
    assert "Alias moved." in page and "champion</b> → <a" in page
    history = page.split('id="history"')[1]
    assert "→ @2" in history and "(was @1)" in history and "by ed" in history
    r = demo.http.post("/projects/demo/models/churn/aliases", data={"csrf_token": csrf, "alias": "x", "version": "v2"})
    assert r.status_code == 400 and "version" in r.text


def test_a_viewer_sees_no_action_and_is_refused_one(demo: UiEnv) -> None:
    csrf = demo.sign_in("vera")
    page = demo.http.get("/projects/demo/models/churn").text
    assert "Set alias" not in page and ">Request</button>" not in page and ">Approve</button>" not in page
    form = {"csrf_token": csrf, "alias": "champion", "version": "2"}
    r = demo.http.post("/projects/demo/models/churn/aliases", data=form)
    assert r.status_code == 403 and "needs the editor role" in r.text
    assert "champion → @1" in demo.http.get("/projects/demo/models").text


def test_promotion_is_requested_by_an_editor_and_decided_by_an_approver(demo: UiEnv) -> None:
    csrf = demo.sign_in("ed")
    r = demo.http.post(
        "/projects/demo/models/churn/promotions",
        data={"csrf_token": csrf, "version": "2", "environment": "production", "reason": "better recall"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = demo.http.get("/projects/demo/models/churn").text
    assert "PENDING" in page and "awaiting an approver" in page  # the editor cannot approve (admin role needed)
    request_id = page.split('id="promotions-table"')[1].split("<td>")[1].split("</td>")[0]
    decision = {"csrf_token": csrf, "decision": "approve"}
    r = demo.http.post(f"/projects/demo/models/churn/promotions/{request_id}", data=decision)
    assert r.status_code == 403
    demo.http.cookies.clear()
    csrf = demo.sign_in()
    r = demo.http.post(
        f"/projects/demo/models/churn/promotions/{request_id}",
        data={"csrf_token": csrf, "decision": "approve", "reason": "ok"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = demo.http.get(r.headers["location"]).text
    assert "APPROVED" in page and "production" in page
    assert demo.accounts.role_for(demo.accounts.get_user("ed"), "demo") == Role.EDITOR


def test_the_version_page_shows_the_model_card_and_editors_write_its_text(demo: UiEnv) -> None:
    csrf = demo.sign_in("vera")
    page = demo.http.get("/projects/demo/models/churn/1").text
    assert 'id="model-card"' in page and "Edit the model card" not in page and "?format=md" in page
    refused = demo.http.post("/projects/demo/models/churn/1/card", data={"csrf_token": csrf, "overview": "x"})
    assert refused.status_code == 403
    demo.http.cookies.clear()
    csrf = demo.sign_in("ed")
    assert "Edit the model card" in demo.http.get("/projects/demo/models/churn/1").text
    xss = "<img src=x onerror=alert(1)>"
    form = {"csrf_token": csrf, "overview": f"Scores churn {xss}", "limitations": "EU only"}
    r = demo.http.post("/projects/demo/models/churn/1/card", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = demo.http.get(r.headers["location"]).text
    assert "Model card saved." in page and "EU only" in page
    assert xss not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    card = demo.http.get("/api/v1/models/demo/churn/versions/1/card").json()
    assert card["considerations"]["limitations"] == "EU only"
    no_token = demo.http.post("/projects/demo/models/churn/1/card", data={"overview": "y"})
    assert no_token.status_code in (400, 403)
