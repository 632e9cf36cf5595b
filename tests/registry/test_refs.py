"""Model references and name rules (pure functions)."""

from __future__ import annotations

import unicodedata

import pytest

from modelyard.errors import InvalidInputError, RunNotFoundError
from modelyard.registry import ModelRef, model_key, parse_model_ref, validate_alias

RUN = "0192f0c4a3b07c3e9d1f2a3b4c5d6e7f"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", ModelRef(name="churn")),
        ("churn@latest", ModelRef(name="churn")),
        ("churn@3", ModelRef(name="churn", version=3)),
        ("churn@Champion", ModelRef(name="churn", alias="champion")),
        ("churn@sha:ABCDEF12", ModelRef(name="churn", sha="abcdef12")),
        ("models:/churn/3", ModelRef(name="churn", version=3)),
        ("models:/churn/latest", ModelRef(name="churn")),
        ("models:/churn@champion", ModelRef(name="churn", alias="champion")),
        ("models:/churn", ModelRef(name="churn")),
        (f"runs:/{RUN}/model", ModelRef(run_id=RUN, path="model")),
        (f"runs:/{RUN}", ModelRef(run_id=RUN, path="model")),
        (f"runs:/{RUN}/nested/model", ModelRef(run_id=RUN, path="nested/model")),
    ],
)
def test_references_parse(text: str, expected: ModelRef) -> None:
    assert parse_model_ref(text) == expected


def test_references_print_back() -> None:
    assert [str(parse_model_ref(t)) for t in ("churn", "churn@3", "models:/churn@champion")] == [
        "churn@latest",
        "churn@3",
        "churn@champion",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "churn@0",
        "churn@99999999999",
        "churn@sha:xyz",
        "churn@sha:abc",
        "models:/churn/3/4",
        "models:/a@b/3",
        "models:/churn/",
        "chu/rn@1",
        "../etc@1",
        "churn@a/b",
        unicodedata.normalize("NFD", "modèle") + "@1",
        "сhurn",  # Cyrillic 'с'
        f"runs:/{RUN}/../x",
    ],
)
def test_bad_references_are_input_errors(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_model_ref(text)


def test_a_malformed_run_id_names_no_run() -> None:
    with pytest.raises(RunNotFoundError):
        parse_model_ref("runs:/123/model")


def test_aliases_and_keys() -> None:
    assert validate_alias("Champion") == "champion"
    for bad in ("3", "latest", "LATEST", "", "a b", "a/b"):
        with pytest.raises(InvalidInputError):
            validate_alias(bad)
    assert model_key("Churn") == model_key("CHURN") == "churn"
