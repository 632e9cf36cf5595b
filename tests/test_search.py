"""Tests of the run search language parser."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime

import pytest

from modelyard.errors import InvalidFilterError, InvalidInputError
from modelyard.search import (
    ATTRIBUTE_NAMES,
    RUN_STATUSES,
    And,
    Comparison,
    Expr,
    Not,
    Or,
    OrderKey,
    parse_filter,
    parse_order_by,
)


def cmp(
    entity: str,
    key: str,
    op: str,
    value: object,
    is_number: bool | None = None,
) -> Comparison:
    """Build the Comparison the parser should produce (number flag inferred)."""
    if is_number is None:
        items = value if isinstance(value, tuple) else (value,)
        is_number = all(isinstance(v, int | float) for v in items)
    return Comparison(entity, key, op, value, is_number)  # type: ignore[arg-type]


def error_of(text: str) -> str:
    """Return the message of the error parsing ``text`` raises."""
    with pytest.raises(InvalidFilterError) as info:
        parse_filter(text)
    return str(info.value)


def position_of(message: str) -> int:
    """Return the position an error message names."""
    match = re.search(r"at position (\d+)", message)
    assert match is not None, message
    return int(match.group(1))


# -- empty input ---------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", " ", "\t\n  \r"])
def test_empty_filter_is_none(text: str | None) -> None:
    assert parse_filter(text) is None


# -- comparisons and operators -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("metrics.acc = 1", "="),
        ("metrics.acc == 1", "="),
        ("metrics.acc != 1", "!="),
        ("metrics.acc <> 1", "!="),
        ("metrics.acc < 1", "<"),
        ("metrics.acc <= 1", "<="),
        ("metrics.acc > 1", ">"),
        ("metrics.acc >= 1", ">="),
        ("metrics.acc>=1", ">="),
        ("metrics.acc<1", "<"),
    ],
)
def test_symbol_operators(text: str, op: str) -> None:
    assert parse_filter(text) == cmp("metrics", "acc", op, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.opt like 'ad%'", cmp("params", "opt", "like", "ad%")),
        ("params.opt LIKE 'ad%'", cmp("params", "opt", "like", "ad%")),
        ("tags.team ilike '%RISK%'", cmp("tags", "team", "ilike", "%RISK%")),
        ("tags.team ILike '_isk'", cmp("tags", "team", "ilike", "_isk")),
        ("params.opt in ('adam', 'sgd')", cmp("params", "opt", "in", ("adam", "sgd"))),
        ("params.opt IN('adam')", cmp("params", "opt", "in", ("adam",))),
        ("params.opt not in ('a','b')", cmp("params", "opt", "not in", ("a", "b"))),
        ("params.opt NOT   IN ( 'a' )", cmp("params", "opt", "not in", ("a",))),
        ("metrics.n in (1, 2, 3)", cmp("metrics", "n", "in", (1, 2, 3))),
        ("metrics.n not in (1.5)", cmp("metrics", "n", "not in", (1.5,))),
    ],
)
def test_word_operators(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


def test_params_and_tags_keep_strings_and_numbers() -> None:
    assert parse_filter("params.lr = '0.1'") == cmp("params", "lr", "=", "0.1", False)
    assert parse_filter("params.lr = 0.1") == cmp("params", "lr", "=", 0.1, True)
    assert parse_filter("tags.n > 3") == cmp("tags", "n", ">", 3, True)
    assert parse_filter("params.x in ('a', 1)") == cmp("params", "x", "in", ("a", 1), False)
    assert parse_filter("params.x in (2, 1)") == cmp("params", "x", "in", (2, 1), True)
    assert parse_filter("params.x < 'b'") == cmp("params", "x", "<", "b", False)


def test_mlflow_style_example() -> None:
    text = "metrics.accuracy > 0.9 and params.lr = '0.1' and tags.team = 'risk' and attributes.status = 'FINISHED'"
    assert parse_filter(text) == And(
        (
            cmp("metrics", "accuracy", ">", 0.9),
            cmp("params", "lr", "=", "0.1"),
            cmp("tags", "team", "=", "risk"),
            cmp("attributes", "status", "=", "FINISHED"),
        )
    )


# -- names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "entity"),
    [
        ("metrics", "metrics"),
        ("metric", "metrics"),
        ("METRICS", "metrics"),
        ("params", "params"),
        ("param", "params"),
        ("Params", "params"),
        ("tags", "tags"),
        ("tag", "tags"),
    ],
)
def test_prefixes_are_normalised(prefix: str, entity: str) -> None:
    value = 1 if entity == "metrics" else "v"
    literal = "1" if entity == "metrics" else "'v'"
    assert parse_filter(f"{prefix}.k = {literal}") == cmp(entity, "k", "=", value)


@pytest.mark.parametrize("prefix", ["attributes", "attribute", "attr", "ATTR"])
def test_attribute_prefixes(prefix: str) -> None:
    assert parse_filter(f"{prefix}.name = 'x'") == cmp("attributes", "name", "=", "x")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.system/cpu > 1", "system/cpu"),
        ("metrics.a.b.c > 1", "a.b.c"),
        ("metrics.val-loss > 1", "val-loss"),
        ("metrics.ns:loss_2 > 1", "ns:loss_2"),
        ("metrics.9lives > 1", "9lives"),
        ("metrics.`system/cpu percent` > 1", "system/cpu percent"),
        ('metrics."my key" > 1', "my key"),
        ("metrics.`a``b` > 1", "a`b"),
        ("metrics.`a\\`b` > 1", "a`b"),
        ('metrics."a\\"b" > 1', 'a"b'),
        ("metrics.`=> and (`  > 1", "=> and ("),
        ("metrics.`é ü` > 1", "é ü"),
    ],
)
def test_keys(text: str, key: str) -> None:
    assert parse_filter(text) == cmp("metrics", key, ">", 1)


def test_keys_are_case_sensitive() -> None:
    assert parse_filter("params.C = '1'") == cmp("params", "C", "=", "1")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("name", "name"),
        ("run_name", "name"),
        ("user", "user"),
        ("id", "id"),
        ("run_id", "id"),
        ("parent_id", "parent_id"),
        ("NAME", "name"),
    ],
)
def test_string_attributes(written: str, canonical: str) -> None:
    expected = cmp("attributes", canonical, "=", "x")
    assert parse_filter(f"attributes.{written} = 'x'") == expected
    assert parse_filter(f"{written} = 'x'") == expected
    assert parse_filter(f"attributes.`{written}` = 'x'") == expected


def test_attribute_names_constant() -> None:
    assert set(ATTRIBUTE_NAMES) == {
        "name",
        "status",
        "start_time",
        "end_time",
        "user",
        "id",
        "parent_id",
    }


# -- values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("-42", -42),
        ("+7", 7),
        ("1.5", 1.5),
        ("-1.5", -1.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("-.5", -0.5),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("2.5e-3", 0.0025),
        ("-2.5E+3", -2500.0),
        ("inf", math.inf),
        ("INF", math.inf),
        ("-inf", -math.inf),
        ("+Inf", math.inf),
        ("Infinity", math.inf),
        ("9223372036854775807", 9223372036854775807),
        ("-9223372036854775808", -9223372036854775808),
        ("9223372036854775808", 9223372036854775808.0),
        ("1" * 5000, math.inf),
        ("1e400", math.inf),
    ],
)
def test_numbers(literal: str, value: float) -> None:
    result = parse_filter(f"metrics.m > {literal}")
    assert isinstance(result, Comparison)
    assert result.value == value
    assert type(result.value) is type(value)
    assert result.value_is_number


@pytest.mark.parametrize("literal", ["nan", "NaN", "NAN", "-nan"])
def test_nan(literal: str) -> None:
    result = parse_filter(f"metrics.m != {literal}")
    assert isinstance(result, Comparison)
    assert isinstance(result.value, float)
    assert math.isnan(result.value)
    assert result.value_is_number


def test_integers_stay_int_and_floats_stay_float() -> None:
    result = parse_filter("metrics.m in (1, 1.0, 1e0)")
    assert isinstance(result, Comparison)
    assert [type(v) for v in result.value] == [int, float, float]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'abc'", "abc"),
        ('"abc"', "abc"),
        ("''", ""),
        ('""', ""),
        ("'it''s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'it\\'s'", "it's"),
        ('"a\\"b"', 'a"b'),
        ("'a\\\"b'", 'a"b'),
        ("'back\\\\slash'", "back\\slash"),
        ("'keep\\n and \\%'", "keep\\n and \\%"),
        ("'double \" inside'", 'double " inside'),
        ('"single \' inside"', "single ' inside"),
        ("'  spaces  '", "  spaces  "),
        ("'and or not ( ) ,'", "and or not ( ) ,"),
        ("'1.5'", "1.5"),
        ("'ünïcödé ✓'", "ünïcödé ✓"),
    ],
)
def test_strings(literal: str, value: str) -> None:
    assert parse_filter(f"params.p = {literal}") == cmp("params", "p", "=", value, False)


def test_string_directly_followed_by_keyword() -> None:
    assert parse_filter("params.a = 'x'and params.b = 'y'") == And(
        (cmp("params", "a", "=", "x"), cmp("params", "b", "=", "y"))
    )


def test_in_list_with_spacing_and_quotes() -> None:
    assert parse_filter("tags.t in (  'a' ,\"b\",'c''d'  )") == cmp("tags", "t", "in", ("a", "b", "c'd"))


# -- attribute semantics -------------------------------------------------------------


@pytest.mark.parametrize("status", RUN_STATUSES)
def test_every_status(status: str) -> None:
    assert parse_filter(f"attributes.status = '{status.lower()}'") == cmp("attributes", "status", "=", status)


def test_status_normalisation() -> None:
    assert parse_filter("status != 'Failed'") == cmp("attributes", "status", "!=", "FAILED")
    assert parse_filter("attr.status in ('running', \"Killed\")") == cmp(
        "attributes", "status", "in", ("RUNNING", "KILLED")
    )
    assert parse_filter("status not in ('cached','skipped','pending')") == cmp(
        "attributes", "status", "not in", ("CACHED", "SKIPPED", "PENDING")
    )
    assert parse_filter("status like 'fin%'") == cmp("attributes", "status", "like", "FIN%")


def test_status_errors() -> None:
    message = error_of("attributes.status = 'DONE'")
    assert "invalid status 'DONE'" in message
    assert "RUNNING, FINISHED, FAILED, KILLED, PENDING, CACHED, SKIPPED" in message
    assert position_of(message) == 20
    message = error_of("status in ('FINISHED', 'nope')")
    assert "invalid status 'nope'" in message
    assert position_of(message) == 23
    assert 'does not support "<"' in error_of("status < 'RUNNING'")
    assert "needs a quoted status" in error_of("status = 1")


def _ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("literal", "millis"),
    [
        ("1700000000000", 1700000000000),
        ("0", 0),
        ("1.7e12", 1700000000000),
        ("1700000000000.5", 1700000000000.5),
        ("'2024-01-31'", _ms(2024, 1, 31)),
        ("'2024-01-31T12:00:00'", _ms(2024, 1, 31, 12)),
        ("'2024-01-31T12:00:00Z'", _ms(2024, 1, 31, 12)),
        ("'2024-01-31 12:00:00'", _ms(2024, 1, 31, 12)),
        ("'2024-01-31T12:00:00+02:00'", _ms(2024, 1, 31, 10)),
        ("'2024-01-31T12:00:00.250Z'", _ms(2024, 1, 31, 12) + 250),
        ("'1969-12-31T23:59:59.999Z'", -1),
        ("' 2024-01-31 '", _ms(2024, 1, 31)),
    ],
)
def test_times(literal: str, millis: float) -> None:
    for name in ("attributes.start_time", "end_time", "attr.start_time"):
        result = parse_filter(f"{name} >= {literal}")
        assert isinstance(result, Comparison)
        assert result.value == millis
        assert type(result.value) is type(millis)
        assert result.value_is_number
        assert result.entity == "attributes"


def test_time_lists() -> None:
    assert parse_filter("start_time in (0, '1970-01-01T00:00:01Z')") == cmp(
        "attributes", "start_time", "in", (0, 1000), True
    )


@pytest.mark.parametrize("literal", ["'2024-13-01'", "'yesterday'", "''", "nan", "inf", "-inf", "1e999"])
def test_invalid_times(literal: str) -> None:
    message = error_of(f"attributes.start_time > {literal}")
    assert "invalid time" in message
    assert "ISO-8601" in message
    assert position_of(message) == len("attributes.start_time > ")


def test_time_like_is_refused() -> None:
    message = error_of("end_time like '2024%'")
    assert 'attributes.end_time does not support "like"' in message
    assert position_of(message) == 9


@pytest.mark.parametrize("name", ["name", "user", "id", "parent_id", "run_id"])
def test_string_attributes_refuse_numbers(name: str) -> None:
    message = error_of(f"attributes.{name} = 12")
    assert "needs a quoted string, found the number 12" in message
    assert "'12'" in message


# -- metrics semantics ---------------------------------------------------------------


def test_metrics_refuse_strings() -> None:
    message = error_of("metrics.acc > '0.9'")
    assert "metrics.acc is compared with numbers, found the string '0.9'" in message
    assert position_of(message) == 14
    message = error_of("metrics.acc in (1, 'x')")
    assert "found the string 'x'" in message
    assert position_of(message) == 19


@pytest.mark.parametrize("op", ["like", "ilike", "LIKE"])
def test_metrics_refuse_like(op: str) -> None:
    message = error_of(f"metrics.acc {op} '0.9%'")
    assert f'metrics do not support "{op.lower()}"' in message
    assert position_of(message) == 12


# -- boolean structure ---------------------------------------------------------------

A = "metrics.a > 1"
B = "params.b = 'x'"
C = "tags.c = 'y'"
D = "attributes.name = 'z'"
CA = cmp("metrics", "a", ">", 1)
CB = cmp("params", "b", "=", "x")
CC = cmp("tags", "c", "=", "y")
CD = cmp("attributes", "name", "=", "z")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{A} and {B}", And((CA, CB))),
        (f"{A} AND {B} aNd {C}", And((CA, CB, CC))),
        (f"{A} or {B}", Or((CA, CB))),
        (f"{A} OR {B} or {C}", Or((CA, CB, CC))),
        (f"{A} or {B} and {C}", Or((CA, And((CB, CC))))),
        (f"{A} and {B} or {C}", Or((And((CA, CB)), CC))),
        (f"{A} and {B} or {C} and {D}", Or((And((CA, CB)), And((CC, CD))))),
        (f"({A} or {B}) and {C}", And((Or((CA, CB)), CC))),
        (f"{A} and ({B} or {C})", And((CA, Or((CB, CC))))),
        (f"not {A}", Not(CA)),
        (f"NOT {A} and {B}", And((Not(CA), CB))),
        (f"not {A} or {B}", Or((Not(CA), CB))),
        (f"{A} and not {B}", And((CA, Not(CB)))),
        (f"not ({A} and {B})", Not(And((CA, CB)))),
        (f"not not {A}", Not(Not(CA))),
        (f"not({A})", Not(CA)),
        (f"({A})", CA),
        (f"((({A})))", CA),
        (f"{A} and ({B} and {C})", And((CA, CB, CC))),
        (f"({A} and {B}) and ({C} and {D})", And((CA, CB, CC, CD))),
        (f"({A} or {B}) or ({C} or {D})", Or((CA, CB, CC, CD))),
        (f"{A} or ({B} or ({C} or {D}))", Or((CA, CB, CC, CD))),
        (f"({A} or {B}) and ({C} or {D})", And((Or((CA, CB)), Or((CC, CD))))),
        (f"{A} and ({B} or {C} and {D})", And((CA, Or((CB, And((CC, CD))))))),
        (f"not {A} and not ({B} or not {C})", And((Not(CA), Not(Or((CB, Not(CC))))))),
        (f"\n  {A}\n\tand\n  {B}\n", And((CA, CB))),
    ],
)
def test_precedence_and_parentheses(text: str, expected: Expr) -> None:
    assert parse_filter(text) == expected


def test_not_in_versus_not_prefix() -> None:
    assert parse_filter("not params.x in ('a')") == Not(cmp("params", "x", "in", ("a",)))
    assert parse_filter("params.x not in ('a')") == cmp("params", "x", "not in", ("a",))


def test_keywords_inside_keys_and_values_are_not_keywords() -> None:
    assert parse_filter("params.and = 'or' or params.not = 'and'") == Or(
        (cmp("params", "and", "=", "or"), cmp("params", "not", "=", "and"))
    )
    assert parse_filter("tags.order = 'x' and tags.notes = 'y'") == And(
        (cmp("tags", "order", "=", "x"), cmp("tags", "notes", "=", "y"))
    )


def test_ast_is_frozen_and_hashable() -> None:
    result = parse_filter(f"{A} and ({B} or not {C}) and params.z in ('a', 'b')")
    assert result is not None
    assert hash(result) == hash(parse_filter(f"{A} and ({B} or not {C}) and params.z in ('a', 'b')"))
    with pytest.raises(AttributeError):
        CA.key = "other"  # type: ignore[misc]


def test_long_flat_chain_does_not_recurse() -> None:
    text = " and ".join([A] * 5000)
    result = parse_filter(text)
    assert isinstance(result, And)
    assert len(result.items) == 5000


def test_nesting_limit() -> None:
    assert parse_filter("(" * 64 + A + ")" * 64) == CA
    message = error_of("(" * 65 + A + ")" * 65)
    assert "nested more than 64 levels" in message
    assert position_of(message) == 64
    assert parse_filter("not " * 64 + A) is not None
    message = error_of("not " * 65 + A)
    assert "nested more than 64 levels" in message
    assert "nested" in error_of("(" * 10000)
    assert "nested" in error_of("not " * 10000 + A)


# -- errors ----------------------------------------------------------------------------


def test_error_is_an_invalid_input_error_with_code() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_filter("metrics.acc >")
    assert info.value.code == "invalid_filter"


def test_error_message_format() -> None:
    message = error_of("metrics.acc >")
    assert message == (
        'Invalid filter at position 13 (after "metrics.acc >"): expected a value '
        "(a number or a quoted string), found end of input.\n"
        "  metrics.acc >\n"
        "               ^"
    )


def test_error_caret_points_at_position() -> None:
    text = "metrics.a > 1 and params.b ~ 'x'"
    message = error_of(text)
    first, shown, caret = message.split("\n")
    assert first.startswith('Invalid filter at position 27 (after "metrics.a > 1 and params.b"):')
    assert shown == "  " + text
    assert caret.index("^") - 2 == 27


def test_error_caret_in_long_filter_is_windowed() -> None:
    text = "params.p = 'x' and " * 30 + "params.q ? 1 and " + "params.p = 'x' and " * 30
    message = error_of(text)
    pos = text.index("?")
    assert position_of(message) == pos
    _, shown, caret = message.split("\n")
    assert len(shown) < 120
    assert shown[caret.index("^")] == "?"
    assert '(after "...' in message


def test_error_caret_with_newlines_and_tabs() -> None:
    text = "metrics.a > 1\n\tand\n  params.b = "
    message = error_of(text)
    _, shown, caret = message.split("\n")
    assert shown == "  " + text.replace("\n", " ").replace("\t", " ")
    assert caret.index("^") - 2 == len(text)


@pytest.mark.parametrize(
    ("text", "position", "fragments"),
    [
        # missing or malformed values
        (
            "metrics.acc >",
            13,
            ["expected a value (a number or a quoted string)", "found end of input"],
        ),
        ("metrics.acc > and", 14, ["expected a value", 'found "and"', "quote strings"]),
        ("params.x = foo", 11, ['found "foo"', "quote strings, as in 'abc'"]),
        ("params.x = `foo`", 11, ['found "`foo`"']),
        ("metrics.a > 12abc", 12, ['invalid number "12abc"']),
        ("metrics.a > 1.2.3", 12, ['invalid number "1.2.3"']),
        ("metrics.a > 1e", 12, ['invalid number "1e"']),
        ("metrics.a > - 1", 12, ["expected a value", 'found "-"']),
        ("metrics.a > info", 12, ['found "info"']),
        # unterminated strings and keys
        (
            "params.x = 'abc",
            11,
            ["unterminated string", "' opened at position 11 is never closed"],
        ),
        ('params.x = "abc', 11, ["unterminated string", '" opened at position 11']),
        ("params.x = 'it\\'s", 11, ["unterminated string"]),
        ("params.x in ('a', 'b)", 18, ["unterminated string"]),
        ("params.`abc = 'x'", 7, ["unterminated quoted key", "` opened at position 7"]),
        ('params."abc = 1', 7, ["unterminated quoted key"]),
        ("metrics.`` > 1", 8, ['the key after "metrics." is empty']),
        # names
        (
            "metricz.a > 1",
            0,
            [
                'unknown prefix "metricz."',
                "metrics., params., tags. or attributes.",
                "attr.",
            ],
        ),
        ("foo.bar = 'x'", 0, ['unknown prefix "foo."']),
        (
            "accuracy > 0.9",
            0,
            [
                'unknown name "accuracy"',
                "metrics., params.",
                "bare attribute name",
                "start_time",
            ],
        ),
        (
            "metrics > 1",
            7,
            ['expected "." and a key after "metrics"', "found whitespace"],
        ),
        ("metrics. > 1", 8, ['expected a key after "metrics."', "found whitespace"]),
        ("metrics.=1", 8, ['expected a key after "metrics."', 'found "="']),
        (
            "attributes.foo = 'x'",
            11,
            [
                'unknown attribute "foo"',
                "end_time, id, name, parent_id, start_time, status, user",
                "run_name, run_id",
            ],
        ),
        ("attr.`start time` = 1", 5, ['unknown attribute "start time"']),
        ("= 1", 0, ["expected a name such as metrics.accuracy", 'found "="']),
        ("'x' = 1", 0, ["expected a name such as", "found \"'x'\""]),
        # operators
        (
            "metrics.a 1",
            10,
            [
                "expected a comparison operator (=, !=, <, <=, >, >=, like, ilike, in or not in)",
                'found "1"',
            ],
        ),
        ("metrics.a", 9, ["expected a comparison operator", "found end of input"]),
        ("metrics.a ~ 1", 10, ["expected a comparison operator", 'found "~"']),
        ("params.a is 'x'", 9, ["expected a comparison operator", 'found "is"']),
        ("params.a not like 'x'", 13, ['expected "in" after "not"', 'found "like"']),
        ("params.a not = 'x'", 13, ['expected "in" after "not"']),
        # lists
        (
            "params.a in 'x'",
            12,
            ['expected "(" to start the list of values after "in"', "found \"'x'\""],
        ),
        ("params.a not in 'x'", 16, ['after "not in"']),
        ("params.a in ()", 13, ['the list of values after "in" is empty']),
        (
            "params.a in ('x' 'y')",
            17,
            [
                'expected "," or ")" to close the list opened at position 12',
                "found \"'y'\"",
            ],
        ),
        ("params.a in ('x',)", 17, ["expected a value", 'found ")"']),
        ("params.a in ('x'", 16, ['expected "," or ")"', "found end of input"]),
        (
            "params.a = ('x')",
            11,
            ['a list of values is allowed only after "in" or "not in", not after "="'],
        ),
        # like
        (
            "params.a like 1",
            14,
            ['"like" needs a quoted string pattern', "found the number 1"],
        ),
        ("tags.a ilike 2.5", 13, ['"ilike" needs a quoted string pattern']),
        # structure
        (
            "(metrics.a > 1",
            14,
            [
                'expected "and", "or" or ")" to close the "(" at position 0',
                "found end of input",
            ],
        ),
        ("((metrics.a > 1)", 16, ['close the "(" at position 0']),
        ("metrics.a > 1)", 13, ['found ")" without a matching "("']),
        ("(metrics.a > 1))", 15, ['found ")" without a matching "("']),
        (
            "metrics.a > 1 metrics.b > 2",
            14,
            ['expected "and", "or" or the end of the filter', 'found "metrics.b"'],
        ),
        ("metrics.a > 1 and", 17, ["expected a name such as", "found end of input"]),
        ("metrics.a > 1 or or metrics.b > 1", 17, ['unknown name "or"']),
        ("and metrics.a > 1", 0, ['unknown name "and"']),
        ("()", 1, ["expected a name such as", 'found ")"']),
        ("not", 3, ["expected a name such as", "found end of input"]),
        (
            "metrics.a > 1 &&  metrics.b > 1",
            14,
            ['expected "and", "or" or the end of the filter', 'found "&"'],
        ),
        ("metrics.a > 1 ; drop table runs", 14, ['found ";"']),
        ("params.x = 'a' 'b'", 15, ['expected "and", "or" or the end of the filter']),
    ],
)
def test_bad_filters(text: str, position: int, fragments: list[str]) -> None:
    message = error_of(text)
    assert message.startswith(f"Invalid filter at position {position}"), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    lines = message.split("\n")
    assert len(lines) == 3
    assert lines[2].index("^") - 2 == position


def test_error_after_context_is_shown() -> None:
    message = error_of("metrics.a > 1 and params.b ~ 'x'")
    assert '(after "metrics.a > 1 and params.b")' in message
    assert "(after" not in error_of("~")


@pytest.mark.parametrize("value", [1, 1.5, b"metrics.a > 1", ["metrics.a > 1"]])
def test_non_string_filter(value: object) -> None:
    with pytest.raises(InvalidFilterError, match="expected a string"):
        parse_filter(value)  # type: ignore[arg-type]


# -- order by --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("metrics.accuracy desc", OrderKey("metrics", "accuracy", True)),
        ("metrics.accuracy DESC", OrderKey("metrics", "accuracy", True)),
        ("metrics.accuracy", OrderKey("metrics", "accuracy", False)),
        ("metrics.accuracy asc", OrderKey("metrics", "accuracy", False)),
        ("params.C ASC", OrderKey("params", "C", False)),
        ("param.C Desc", OrderKey("params", "C", True)),
        ("tags.team", OrderKey("tags", "team", False)),
        ("attributes.start_time", OrderKey("attributes", "start_time", False)),
        ("attr.run_name desc", OrderKey("attributes", "name", True)),
        ("start_time", OrderKey("attributes", "start_time", False)),
        ("name", OrderKey("attributes", "name", False)),
        ("end_time desc", OrderKey("attributes", "end_time", True)),
        ("STATUS", OrderKey("attributes", "status", False)),
        ("run_id", OrderKey("attributes", "id", False)),
        (
            "metrics.`system/cpu percent` desc",
            OrderKey("metrics", "system/cpu percent", True),
        ),
        ('metrics."a b"', OrderKey("metrics", "a b", False)),
        ("metrics.system/cpu", OrderKey("metrics", "system/cpu", False)),
        ("  metrics.a   desc  ", OrderKey("metrics", "a", True)),
        ("metrics.desc", OrderKey("metrics", "desc", False)),
        ("metrics.desc desc", OrderKey("metrics", "desc", True)),
    ],
)
def test_order_by(clause: str, expected: OrderKey) -> None:
    assert parse_order_by([clause]) == [expected]


def test_order_by_many_and_empty() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []
    assert parse_order_by(("metrics.a desc", "start_time", "params.b")) == [
        OrderKey("metrics", "a", True),
        OrderKey("attributes", "start_time", False),
        OrderKey("params", "b", False),
    ]


def test_order_by_single_string_is_one_clause() -> None:
    assert parse_order_by("metrics.a desc") == [OrderKey("metrics", "a", True)]


@pytest.mark.parametrize(
    ("clause", "position", "fragments"),
    [
        (
            "metrics.a down",
            10,
            ['expected "asc", "desc" or the end of the clause', 'found "down"'],
        ),
        ("metrics.a desc x", 15, ["expected the end of the clause", 'found "x"']),
        ("metrics.a desc desc", 15, ["expected the end of the clause"]),
        ("", 0, ["found an empty clause"]),
        ("   ", 3, ["found an empty clause"]),
        ("accuracy desc", 0, ['unknown name "accuracy"']),
        ("foo.bar", 0, ['unknown prefix "foo."']),
        ("attributes.nope", 11, ['unknown attribute "nope"']),
        ("metrics.a, params.b", 9, ['found ","', "one clause per list item"]),
        ("metrics.`a", 8, ["unterminated quoted key"]),
        ("desc", 0, ['unknown name "desc"']),
    ],
)
def test_bad_order_by(clause: str, position: int, fragments: list[str]) -> None:
    with pytest.raises(InvalidFilterError) as info:
        parse_order_by(["metrics.ok", clause])
    message = str(info.value)
    assert message.startswith(f"Invalid order_by clause at position {position}"), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert message.split("\n")[2].index("^") - 2 == position


def test_order_by_non_string_clause() -> None:
    with pytest.raises(InvalidFilterError, match="expected a string"):
        parse_order_by([1])  # type: ignore[list-item]


# -- fuzzing ---------------------------------------------------------------------------

_FRAGMENTS = [
    "metrics.", "params.", "tags.", "attributes.", "attr.", "metric.", "status",
    "start_time", "end_time", "name", "run_id", "acc", "sys/cpu", "`a b`", '"k"',
    "'v'", '"v"', "'FINISHED'", "'finished'", "'2024-01-31T00:00:00Z'", "'", '"', "`",
    "(", ")", ",", " and ", " or ", " not ", " in ", " not in ", " like ", " ilike ",
    "AND", "Or", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "1", "-2.5e3", "0.9",
    "nan", "-inf", "INF", " ", "  ", "\\", "''", "\n", "\t", "\x00", "\ud800", "é",
    "9" * 30, "1e999", ".", "/", ":", "-", "+", "_", "asc", "desc",
]  # fmt: skip

_VALID = [
    "metrics.accuracy > 0.9 and params.lr = '0.1' and tags.team = 'risk'",
    "(metrics.a >= -1e3 or not params.b in ('x', \"y\")) and status = 'finished'",
    "attributes.start_time >= '2024-01-31T00:00:00Z' and end_time < 1700000000000",
    "metrics.`system/cpu percent` < 80 or tags.t ilike '%a''b%'",
    "not (params.x not in (1, 2, 'three') or attr.run_name like 'base%')",
]


def _random_inputs(rng: random.Random, count: int) -> list[str]:
    inputs: list[str] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.35:
            text = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 14)))
        elif kind < 0.7:
            # Mutations of valid filters: delete, insert, duplicate or swap characters.
            chars = list(rng.choice(_VALID))
            for _ in range(rng.randint(1, 4)):
                op = rng.randrange(4)
                i = rng.randrange(len(chars) + 1)
                if op == 0 and chars:
                    del chars[min(i, len(chars) - 1)]
                elif op == 1:
                    chars.insert(i, rng.choice("()',\"` =<>!.-e0123456789anotdilk\\"))
                elif op == 2:
                    chars.insert(i, rng.choice(_FRAGMENTS))
                elif chars:
                    j = rng.randrange(len(chars))
                    k = min(i, len(chars) - 1)
                    chars[j], chars[k] = chars[k], chars[j]
            text = "".join(chars)
        elif kind < 0.9:
            text = "".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(0, 40)))
        else:
            text = "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 20)))
        inputs.append(text)
    return inputs


def _walk(expr: Expr) -> int:
    """Check the tree's invariants and count its comparisons."""
    if isinstance(expr, Comparison):
        assert expr.entity in ("metrics", "params", "tags", "attributes")
        assert expr.op in (
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "like",
            "ilike",
            "in",
            "not in",
        )
        assert isinstance(expr.value, tuple) == (expr.op in ("in", "not in"))
        if expr.entity == "attributes":
            assert expr.key in ATTRIBUTE_NAMES
        if expr.entity == "metrics":
            assert expr.value_is_number
        return 1
    if isinstance(expr, Not):
        return _walk(expr.item)
    assert len(expr.items) >= 2
    assert not any(type(item) is type(expr) for item in expr.items)
    return sum(_walk(item) for item in expr.items)


def test_fuzz_filters_raise_only_invalid_filter_error() -> None:
    rng = random.Random(20240131)
    parsed = failed = 0
    for text in _random_inputs(rng, 30000):
        try:
            result = parse_filter(text)
        except InvalidFilterError as error:
            failed += 1
            message = str(error)
            assert message.startswith("Invalid filter at position "), message
            pos = position_of(message)
            assert 0 <= pos <= len(text)
            lines = message.split("\n")
            assert len(lines) == 3
            assert lines[2].strip() == "^"
        else:
            if result is not None:
                parsed += 1
                assert _walk(result) >= 1
                hash(result)
                repr(result)
    # The generator must exercise both paths, not only errors.
    assert parsed > 500
    assert failed > 10000


def test_fuzz_order_by_raises_only_invalid_filter_error() -> None:
    rng = random.Random(7)
    for text in _random_inputs(rng, 10000):
        try:
            keys = parse_order_by([text])
        except InvalidFilterError as error:
            assert str(error).startswith("Invalid order_by clause")
        else:
            assert len(keys) == 1


# -- round trip: random trees rendered as text parse back to the same tree -------------


def _render_key(rng: random.Random, key: str) -> str:
    if " " in key or rng.random() < 0.2:
        quote = rng.choice(["`", '"'])
        return f"{quote}{key}{quote}"
    return key


def _render_string(rng: random.Random, value: str) -> str:
    quote = rng.choice(["'", '"'])
    escaped = value.replace("\\", "\\\\")
    escaped = escaped.replace(quote, rng.choice([quote * 2, "\\" + quote]))
    return f"{quote}{escaped}{quote}"


def _random_comparison(rng: random.Random) -> tuple[str, Comparison]:
    entity = rng.choice(["metrics", "params", "tags", "attributes"])
    prefix = rng.choice(
        {
            "metrics": ["metrics", "metric", "METRICS"],
            "params": ["params", "param"],
            "tags": ["tags", "tag", "Tags"],
            "attributes": ["attributes", "attribute", "attr", ""],
        }[entity]
    )
    key = rng.choice(["acc", "val-loss", "sys/cpu:0", "a.b", "my key", "x_1", "C"])
    if entity == "attributes":
        key = rng.choice(["name", "user", "id", "parent_id", "status"])
    name = f"{prefix}.{_render_key(rng, key)}" if prefix else key
    if entity == "attributes" and key == "status":
        ops = ["=", "!=", "in", "not in"]
    elif entity == "metrics":
        ops = ["=", "!=", "<", "<=", ">", ">=", "in", "not in"]
    else:
        ops = ["=", "!=", "<", "<=", ">", ">=", "like", "ilike", "in", "not in"]
    op = rng.choice(ops)

    def one() -> tuple[str, str | float | int]:
        if entity == "metrics" or (entity in ("params", "tags") and op not in ("like", "ilike") and rng.random() < 0.3):
            number: float | int = rng.choice([rng.randint(-1000, 1000), rng.uniform(-1e6, 1e6), math.inf, -math.inf])
            return (repr(number) if not math.isinf(number) else str(number)), number
        if entity == "attributes" and key == "status":
            status = rng.choice(RUN_STATUSES)
            return _render_string(rng, rng.choice([status, status.lower()])), status
        value = "".join(rng.choice("ab' \"\\%_é,()") for _ in range(rng.randint(0, 6)))
        return _render_string(rng, value), value

    written_op = {"=": rng.choice(["=", "=="]), "!=": rng.choice(["!=", "<>"])}.get(op, op)
    written_op = written_op.upper() if rng.random() < 0.3 else written_op
    if op in ("in", "not in"):
        items = [one() for _ in range(rng.randint(1, 4))]
        text = f"{name} {written_op} ({', '.join(t for t, _ in items)})"
        values = tuple(v for _, v in items)
        is_number = all(isinstance(v, int | float) for v in values)
        return text, Comparison(entity, key, op, values, is_number)  # type: ignore[arg-type]
    literal, value = one()
    space = rng.choice([" ", "  ", "\n"])
    text = f"{name}{space}{written_op}{space}{literal}"
    is_number = isinstance(value, int | float)
    return text, Comparison(entity, key, op, value, is_number)  # type: ignore[arg-type]


def _random_tree(rng: random.Random, depth: int) -> tuple[str, Expr]:
    kind = rng.random()
    if depth == 0 or kind < 0.4:
        return _random_comparison(rng)
    if kind < 0.55:
        text, expr = _random_tree(rng, depth - 1)
        return f"{rng.choice(['not', 'NOT'])} ({text})", Not(expr)
    parts = [_random_tree(rng, depth - 1) for _ in range(rng.randint(2, 4))]
    items: list[Expr] = []
    if rng.random() < 0.5:
        for _, expr in parts:
            items.extend(expr.items if isinstance(expr, And) else (expr,))
        return " and ".join(f"({t})" for t, _ in parts), And(tuple(items))
    for _, expr in parts:
        items.extend(expr.items if isinstance(expr, Or) else (expr,))
    return " or ".join(f"({t})" for t, _ in parts), Or(tuple(items))


def test_random_trees_round_trip() -> None:
    rng = random.Random(99)
    for _ in range(3000):
        text, expected = _random_tree(rng, rng.randint(0, 4))
        assert parse_filter(text) == expected, text
