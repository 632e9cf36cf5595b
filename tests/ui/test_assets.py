"""The UI's files ship with the package: every asset a template links exists, and none is remote."""

from __future__ import annotations

import re

from modelyard.ui import STATIC_DIR, TEMPLATES_DIR


def test_every_linked_asset_exists_and_is_local() -> None:
    linked = set()
    for template in TEMPLATES_DIR.glob("*.html"):
        text = template.read_text()
        assert "<style" not in text and " style=" not in text, f"{template.name}: inline style (the CSP forbids it)"
        inline = re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))", text)
        assert not inline, f"{template.name}: inline script"
        assert "://" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', text)), f"{template.name}: remote asset"
        linked.update(re.findall(r'(?:src|href)="/static/([^"?]+)', text))
    assert {"app.css", "js/app.js", "js/charts.js", "vendor/uplot/uPlot.iife.min.js"} <= linked
    for path in linked:
        assert (STATIC_DIR / path).is_file(), path


def test_the_vendored_chart_library_carries_its_licence() -> None:
    vendor = STATIC_DIR / "vendor" / "uplot"
    assert "MIT License" in (vendor / "LICENSE").read_text()
    assert (vendor / "uPlot.iife.min.js").stat().st_size > 40_000
