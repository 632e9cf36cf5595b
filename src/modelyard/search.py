"""Parser of the run search language: filters and order-by clauses.

A filter compares run fields with values and combines the comparisons with ``and``,
``or``, ``not`` and parentheses; ``not`` binds tighter than ``and``, which binds
tighter than ``or``::

    metrics.accuracy > 0.9 and params.lr = '0.1'
    (tags.team = 'risk' or tags.team ilike 'fraud%')
        and not attributes.status in ('FAILED', 'KILLED')
    metrics.`system/cpu percent` < 80 and attr.start_time >= '2024-01-31T00:00:00Z'

Grammar (keywords, prefixes and attribute names are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := name op value
                | name ("in" | "not" "in") "(" value ("," value)* ")"
    name       := PREFIX "." KEY | ATTRIBUTE
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
    value      := 'string' | "string" | number | nan | inf | -inf

``PREFIX`` is ``metrics``, ``params``, ``tags`` or ``attributes`` (or ``metric``,
``param``, ``tag``, ``attribute``, ``attr``). An unquoted ``KEY`` is made of
``[A-Za-z0-9_-./:]``; any other key is quoted with backticks or double quotes. A bare
``ATTRIBUTE`` name (``status``) is short for ``attributes.status``.

The parser checks what it can without a database (metrics compare with numbers,
``like`` takes a string, statuses exist, times parse) and builds a small immutable tree
(:class:`Comparison`, :class:`And`, :class:`Or`, :class:`Not`) that the store compiles
to SQL. Every error is an :class:`~modelyard.errors.InvalidFilterError` whose message
names the position, what was expected and what was found, followed by the text with a
caret under the position.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

from modelyard.errors import InvalidFilterError

__all__ = [
    "ATTRIBUTE_NAMES",
    "And",
    "Comparison",
    "Entity",
    "Expr",
    "Not",
    "Or",
    "OrderKey",
    "RUN_STATUSES",
    "parse_filter",
    "parse_order_by",
]

Entity: TypeAlias = Literal["metrics", "params", "tags", "attributes"]
"""The kind of run field a name refers to."""

Scalar: TypeAlias = str | float | int

RUN_STATUSES: tuple[str, ...] = (
    "RUNNING",
    "FINISHED",
    "FAILED",
    "KILLED",
    "PENDING",
    "CACHED",
    "SKIPPED",
)
"""The values ``attributes.status`` may be compared with (in upper case)."""

ATTRIBUTE_NAMES: tuple[str, ...] = (
    "end_time",
    "id",
    "name",
    "parent_id",
    "start_time",
    "status",
    "user",
)
"""The canonical attribute names (``run_name`` and ``run_id`` are aliases)."""

_ATTRIBUTE_ALIASES: dict[str, str] = {
    **{name: name for name in ATTRIBUTE_NAMES},
    "run_name": "name",
    "run_id": "id",
}

_ENTITY_ALIASES: dict[str, Entity] = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
}

_TIME_ATTRIBUTES = frozenset({"start_time", "end_time"})
_ORDERING_OPS = frozenset({"<", "<=", ">", ">="})
_PATTERN_OPS = frozenset({"like", "ilike"})
_LIST_OPS = frozenset({"in", "not in"})

# Deeper nesting is refused rather than risking a RecursionError here or in the SQL
# compiler that walks the tree.
_MAX_DEPTH = 64
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

_WS = re.compile(r"\s*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r"[A-Za-z0-9_\-./:]+")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_NUMBER = re.compile(r"[-+]?(?:nan|inf(?:inity)?)", re.IGNORECASE)
_SYMBOL_OP = re.compile(r"==|!=|<>|<=|>=|=|<|>")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]")
_FOUND_WORD = re.compile(r"[A-Za-z0-9_\-./:+]+")
_FOUND_SYMBOLS = re.compile(r"[<>=!]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_NAME_EXAMPLES = "metrics.accuracy, params.lr, tags.team or attributes.status"
_PREFIXES = "metrics., params., tags. or attributes. (short forms: metric., param., tag., attribute., attr.)"
_ALLOWED_ATTRIBUTES = ", ".join(ATTRIBUTE_NAMES) + " (aliases: run_name, run_id)"
_OPERATORS = "=, !=, <, <=, >, >=, like, ilike, in or not in"
_A_VALUE = "a value (a number or a quoted string)"
_ISO_EXAMPLE = "'2024-01-31T12:00:00Z'"


@dataclass(frozen=True, slots=True)
class Comparison:
    """One comparison of a run field with a value, such as ``metrics.accuracy > 0.9``.

    Attributes:
        entity: What the key names: ``"metrics"``, ``"params"``, ``"tags"`` or
            ``"attributes"``.
        key: The metric, param or tag key as written, or the canonical attribute name
            (``run_name`` becomes ``name``, ``run_id`` becomes ``id``).
        op: One of ``"="``, ``"!="``, ``"<"``, ``"<="``, ``">"``, ``">="``, ``"like"``,
            ``"ilike"``, ``"in"``, ``"not in"``.
        value: A string, an ``int`` (an integer literal that fits 64 bits) or a
            ``float`` (any other number, ``nan`` and infinities included); a tuple of
            those for ``in`` and ``not in``. Statuses are upper case; ``start_time``
            and ``end_time`` values are epoch milliseconds (ISO-8601 strings are
            converted).
        value_is_number: True when the value was written as a number (for a list:
            when every element was), and for times.

    """

    entity: Entity
    key: str
    op: str
    value: str | float | int | tuple[str | float | int, ...]
    value_is_number: bool


@dataclass(frozen=True, slots=True)
class And:
    """All of ``items`` hold (two or more, none of them an :class:`And`)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one of ``items`` holds (two or more, none of them an :class:`Or`)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``item`` does not hold."""

    item: Expr


Expr: TypeAlias = Comparison | And | Or | Not
"""A parsed filter: a comparison or a boolean combination of them."""


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One order-by clause, such as ``metrics.accuracy desc``.

    Attributes:
        entity: What the key names: ``"metrics"``, ``"params"``, ``"tags"`` or
            ``"attributes"``.
        key: The metric, param or tag key, or the canonical attribute name.
        descending: True for ``desc``; ascending is the default.

    """

    entity: Entity
    key: str
    descending: bool


@dataclass(frozen=True, slots=True)
class _Literal:
    """A value as parsed, with where it was written (for error messages)."""

    value: Scalar
    is_number: bool
    start: int
    end: int


def parse_filter(text: str | None) -> Expr | None:
    """Parse a run search filter.

    Args:
        text: The filter, such as ``"metrics.accuracy > 0.9 and params.lr = '0.1'"``.

    Returns:
        The expression tree, or None when ``text`` is None, empty or whitespace.

    Raises:
        InvalidFilterError: If the filter does not parse or compares a field with a
            value it cannot hold; the message says where and what was expected.

    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidFilterError(
            f'Invalid filter: expected a string such as "metrics.accuracy > 0.9", got {type(text).__name__}.'
        )
    parser = _Parser(text, "filter")
    parser.skip_ws()
    if parser.at_end():
        return None
    expr = parser.parse_or()
    parser.skip_ws()
    if not parser.at_end():
        if parser.peek() == ")":
            raise parser.error(parser.pos, 'found ")" without a matching "(".')
        raise parser.error(
            parser.pos,
            f'expected "and", "or" or the end of the filter, found {parser.found()}.',
        )
    return expr


def parse_order_by(clauses: Sequence[str] | None) -> list[OrderKey]:
    """Parse order-by clauses.

    Args:
        clauses: Clauses such as ``["metrics.accuracy desc", "start_time"]``: a name
            (as in a filter, or a bare attribute name) optionally followed by ``asc``
            or ``desc`` (case-insensitive). A single string is taken as one clause.

    Returns:
        One :class:`OrderKey` per clause, in order; empty for None.

    Raises:
        InvalidFilterError: If a clause does not parse; the message says where and
            what was expected.

    """
    if clauses is None:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    keys: list[OrderKey] = []
    for clause in clauses:
        if not isinstance(clause, str):
            raise InvalidFilterError(
                "Invalid order_by clause: expected a string such as "
                f'"metrics.accuracy desc", got {type(clause).__name__}.'
            )
        parser = _Parser(clause, "order_by clause")
        parser.skip_ws()
        if parser.at_end():
            raise parser.error(
                parser.pos,
                'expected a name such as "metrics.accuracy desc" or "start_time", found an empty clause.',
            )
        entity, key = parser.parse_name()
        direction = parser.keyword("asc", "desc")
        parser.skip_ws()
        if not parser.at_end():
            expected = "the end of the clause" if direction is not None else '"asc", "desc" or the end of the clause'
            hint = ""
            if parser.peek() == ",":
                hint = '; give one clause per list item, as in ["metrics.a", "name"]'
            raise parser.error(parser.pos, f"expected {expected}, found {parser.found()}{hint}.")
        keys.append(OrderKey(entity, key, direction == "desc"))
    return keys


class _Parser:
    """A recursive-descent parser over one string, reading characters on demand.

    There is no separate lexer because keys may contain ``.``, ``/``, ``:`` and ``-``,
    which only the place in the grammar tells apart from operators and numbers.
    """

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.pos = 0
        self.depth = 0

    # -- scanning -------------------------------------------------------------------

    def skip_ws(self) -> None:
        match = _WS.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def keyword(self, *words: str) -> str | None:
        """Consume the next word if it is one of ``words`` (any case); return it."""
        self.skip_ws()
        match = _WORD.match(self.text, self.pos)
        if match is None:
            return None
        word = match.group().lower()
        # "not.x" or "in.y" start a name, not a keyword.
        if word not in words or self.text.startswith(".", match.end()):
            return None
        self.pos = match.end()
        return word

    def found(self, pos: int | None = None) -> str:
        """Describe what stands at ``pos`` for an error message."""
        pos = self.pos if pos is None else pos
        text = self.text
        if pos >= len(text):
            return "end of input"
        char = text[pos]
        if char.isspace():
            return "whitespace"
        if char in "'\"`":
            close = text.find(char, pos + 1)
            token = text[pos:] if close == -1 else text[pos : close + 1]
        elif (match := _FOUND_WORD.match(text, pos)) is not None:
            token = match.group()
        elif (match := _FOUND_SYMBOLS.match(text, pos)) is not None:
            token = match.group()
        else:
            token = char
        return f'"{_shorten(_printable(token), 30)}"'

    def error(self, pos: int, message: str) -> InvalidFilterError:
        """Build the error: where, the message, the text and a caret at ``pos``."""
        before = _printable(self.text[:pos]).rstrip()
        where = f"Invalid {self.what} at position {pos}"
        if before:
            tail = before if len(before) <= 40 else "..." + before[-37:]
            where += f' (after "{tail}")'
        return InvalidFilterError(f"{where}: {message}\n{_caret(self.text, pos)}")

    # -- expressions ----------------------------------------------------------------

    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.keyword("or") is not None:
            items.append(self.parse_and())
        if len(items) == 1:
            return items[0]
        flat: list[Expr] = []
        for item in items:
            flat.extend(item.items if isinstance(item, Or) else (item,))
        return Or(tuple(flat))

    def parse_and(self) -> Expr:
        items = [self.parse_not()]
        while self.keyword("and") is not None:
            items.append(self.parse_not())
        if len(items) == 1:
            return items[0]
        flat: list[Expr] = []
        for item in items:
            flat.extend(item.items if isinstance(item, And) else (item,))
        return And(tuple(flat))

    def parse_not(self) -> Expr:
        negations = 0
        while True:
            self.skip_ws()
            start = self.pos
            if self.keyword("not") is None:
                break
            negations += 1
            self.enter(start)
        expr = self.parse_primary()
        self.depth -= negations
        for _ in range(negations):
            expr = Not(expr)
        return expr

    def parse_primary(self) -> Expr:
        self.skip_ws()
        if self.peek() != "(":
            return self.parse_comparison()
        open_pos = self.pos
        self.enter(open_pos)
        self.pos += 1
        expr = self.parse_or()
        self.skip_ws()
        if self.peek() != ")":
            raise self.error(
                self.pos,
                f'expected "and", "or" or ")" to close the "(" at position {open_pos}, found {self.found()}.',
            )
        self.pos += 1
        self.depth -= 1
        return expr

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(
                pos,
                f'parentheses and "not" are nested more than {_MAX_DEPTH} levels deep; simplify the filter.',
            )

    # -- comparisons ----------------------------------------------------------------

    def parse_comparison(self) -> Comparison:
        entity, key = self.parse_name()
        label = f"{entity}.{key}"
        self.skip_ws()
        op_pos = self.pos
        op = self.parse_operator()
        self.check_operator(entity, key, label, op, op_pos)
        self.skip_ws()
        value: Scalar | tuple[Scalar, ...]
        if op in _LIST_OPS:
            checked = [self.check_value(entity, key, label, op, item) for item in self.parse_list(op)]
            value = tuple(v for v, _ in checked)
            is_number = all(n for _, n in checked)
        else:
            if self.peek() == "(":
                raise self.error(
                    self.pos,
                    f'a list of values is allowed only after "in" or "not in", not after "{op}".',
                )
            literal = self.parse_value()
            value, is_number = self.check_value(entity, key, label, op, literal)
        return Comparison(entity, key, op, value, is_number)

    def parse_name(self) -> tuple[Entity, str]:
        """Read ``PREFIX.KEY`` or a bare attribute name."""
        self.skip_ws()
        start = self.pos
        match = _WORD.match(self.text, start)
        if match is None:
            raise self.error(
                start,
                f"expected a name such as {_NAME_EXAMPLES}, found {self.found()}.",
            )
        word = match.group()
        shown = _shorten(word, 30)
        if not self.text.startswith(".", match.end()):
            attribute = _ATTRIBUTE_ALIASES.get(word.lower())
            if attribute is not None:
                self.pos = match.end()
                return "attributes", attribute
            if word.lower() in _ENTITY_ALIASES:
                raise self.error(
                    match.end(),
                    f'expected "." and a key after "{word}", found {self.found(match.end())}.',
                )
            raise self.error(
                start,
                f'unknown name "{shown}"; expected a prefix {_PREFIXES} and a key, '
                f"or a bare attribute name: {_ALLOWED_ATTRIBUTES}.",
            )
        entity = _ENTITY_ALIASES.get(word.lower())
        if entity is None:
            raise self.error(
                start,
                f'unknown prefix "{shown}."; expected {_PREFIXES}.',
            )
        self.pos = match.end() + 1
        key_pos = self.pos
        key = self.parse_key(f"{word}.")
        if entity == "attributes":
            attribute = _ATTRIBUTE_ALIASES.get(key.lower())
            if attribute is None:
                raise self.error(
                    key_pos,
                    f'unknown attribute "{_shorten(_printable(key), 30)}"; expected one of {_ALLOWED_ATTRIBUTES}.',
                )
            key = attribute
        return entity, key

    def parse_key(self, prefix: str) -> str:
        start = self.pos
        char = self.peek()
        if char and char in '`"':
            key = self.parse_quoted(char, "quoted key")
            if not key:
                raise self.error(start, f'the key after "{prefix}" is empty.')
            return key
        match = _KEY.match(self.text, start)
        if match is None:
            raise self.error(
                start,
                f'expected a key after "{prefix}" (letters, digits, _ - . / : or a '
                f"key quoted with backticks), found {self.found()}.",
            )
        self.pos = match.end()
        return match.group()

    def parse_operator(self) -> str:
        start = self.pos
        match = _SYMBOL_OP.match(self.text, start)
        if match is not None:
            self.pos = match.end()
            symbol = match.group()
            return {"==": "=", "<>": "!="}.get(symbol, symbol)
        word = self.keyword("like", "ilike", "in", "not")
        if word is None:
            raise self.error(
                start,
                f"expected a comparison operator ({_OPERATORS}), found {self.found()}.",
            )
        if word != "not":
            return word
        self.skip_ws()
        if self.keyword("in") is None:
            raise self.error(
                self.pos,
                f'expected "in" after "not" (to negate a comparison, put "not" before it), found {self.found()}.',
            )
        return "not in"

    def parse_list(self, op: str) -> list[_Literal]:
        if self.peek() != "(":
            raise self.error(
                self.pos,
                f'expected "(" to start the list of values after "{op}", '
                f"as in {op} ('a', 'b'), found {self.found()}.",
            )
        open_pos = self.pos
        self.pos += 1
        self.skip_ws()
        if self.peek() == ")":
            raise self.error(self.pos, f'the list of values after "{op}" is empty.')
        items: list[_Literal] = []
        while True:
            items.append(self.parse_value())
            self.skip_ws()
            char = self.peek()
            if char == ",":
                self.pos += 1
                continue
            if char == ")":
                self.pos += 1
                return items
            raise self.error(
                self.pos,
                f'expected "," or ")" to close the list opened at position {open_pos}, found {self.found()}.',
            )

    def parse_value(self) -> _Literal:
        self.skip_ws()
        start = self.pos
        text = self.text
        char = self.peek()
        if not char:
            raise self.error(start, f"expected {_A_VALUE}, found end of input.")
        if char in "'\"":
            string = self.parse_quoted(char, "string")
            return _Literal(string, False, start, self.pos)
        match = _SPECIAL_NUMBER.match(text, start) or _NUMBER.match(text, start)
        # "1.5.2" or "12abc" is one malformed word, not a number and then garbage.
        if match is not None and _NUMBER_TAIL.match(text, match.end()) is None:
            self.pos = match.end()
            return _Literal(_to_number(match.group()), True, start, self.pos)
        if match is not None and _NUMBER.fullmatch(match.group()) is not None:
            word = _FOUND_WORD.match(text, start)
            bad = word.group() if word is not None else match.group()
            raise self.error(start, f'invalid number "{_shorten(bad, 30)}".')
        hint = "; quote strings, as in 'abc'" if _WORD.match(text, start) else ""
        raise self.error(start, f"expected {_A_VALUE}, found {self.found()}{hint}.")

    def parse_quoted(self, quote: str, what: str) -> str:
        r"""Read a quoted string or key starting at ``self.pos``.

        Inside, ``\'``, ``\"``, ``\``` and ``\\`` stand for the escaped character and
        a doubled quote for one quote; any other backslash is kept as written.
        """
        text = self.text
        start = self.pos
        i = start + 1
        parts: list[str] = []
        while i < len(text):
            char = text[i]
            if char == "\\" and i + 1 < len(text) and text[i + 1] in "'\"`\\":
                parts.append(text[i + 1])
                i += 2
            elif char == quote:
                if text.startswith(quote, i + 1):
                    parts.append(quote)
                    i += 2
                else:
                    self.pos = i + 1
                    return "".join(parts)
            else:
                parts.append(char)
                i += 1
        raise self.error(
            start,
            f"unterminated {what}: the {quote} opened at position {start} is never closed.",
        )

    # -- checks ---------------------------------------------------------------------

    def check_operator(self, entity: Entity, key: str, label: str, op: str, pos: int) -> None:
        """Refuse an operator the field cannot support, pointing at the operator."""
        if op in _PATTERN_OPS and entity == "metrics":
            raise self.error(
                pos,
                f'metrics do not support "{op}"; compare {label} with a number '
                "using =, !=, <, <=, >, >=, in or not in.",
            )
        if op in _PATTERN_OPS and key in _TIME_ATTRIBUTES and entity == "attributes":
            raise self.error(
                pos,
                f'{label} does not support "{op}"; compare it with epoch '
                f"milliseconds or an ISO-8601 string such as {_ISO_EXAMPLE}.",
            )
        if op in _ORDERING_OPS and key == "status" and entity == "attributes":
            raise self.error(
                pos,
                f'{label} does not support "{op}"; use =, !=, in, not in, like or ilike.',
            )

    def check_value(self, entity: Entity, key: str, label: str, op: str, literal: _Literal) -> tuple[Scalar, bool]:
        """Check and normalise one value; return it and its number flag."""
        value = literal.value
        shown = _shorten(_printable(self.text[literal.start : literal.end]), 40)
        if op in _PATTERN_OPS and literal.is_number:
            raise self.error(
                literal.start,
                f"\"{op}\" needs a quoted string pattern, as in {op} '%abc%', found the number {shown}.",
            )
        if entity == "metrics":
            if not literal.is_number:
                raise self.error(
                    literal.start,
                    f"{label} is compared with numbers, found the string {shown}; write numbers without quotes.",
                )
            return value, True
        if entity != "attributes":
            return value, literal.is_number
        if key == "status":
            if not isinstance(value, str) or literal.is_number:
                raise self.error(
                    literal.start,
                    f"{label} needs a quoted status, found the number {shown}.",
                )
            status = value.upper()
            if op not in _PATTERN_OPS and status not in RUN_STATUSES:
                raise self.error(
                    literal.start,
                    f"invalid status {shown}; expected one of {', '.join(RUN_STATUSES)}.",
                )
            return status, False
        if key in _TIME_ATTRIBUTES:
            millis = _to_millis(value)
            if millis is None:
                raise self.error(
                    literal.start,
                    f"invalid time {shown} for {label}; expected a finite number of "
                    f"epoch milliseconds or an ISO-8601 string such as {_ISO_EXAMPLE}.",
                )
            return millis, True
        if literal.is_number:
            raise self.error(
                literal.start,
                f"{label} needs a quoted string, found the number {shown}; quote it, as in '{shown}'.",
            )
        return value, False


def _to_number(literal: str) -> float | int:
    """Convert a numeric literal: ``int`` for integers that fit 64 bits, else float."""
    if _SPECIAL_NUMBER.fullmatch(literal) is not None or any(c in literal for c in ".eE"):
        return float(literal)
    # int() refuses very long digit strings; those would not fit 64 bits anyway.
    if len(literal) <= 20:
        number = int(literal)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    return float(literal)


def _to_millis(value: Scalar) -> float | int | None:
    """Convert a time value to epoch milliseconds; None when it is not a valid time."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return (moment - _EPOCH) // _MILLISECOND
        except (ValueError, OverflowError):
            return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    return value


def _printable(text: str) -> str:
    """Replace control characters (newlines, tabs) by spaces, keeping the length."""
    return _CONTROL.sub(" ", text)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _caret(text: str, pos: int) -> str:
    """Render ``text`` (a window of it when long) and a caret under ``pos`` below."""
    shown = _printable(text)
    width = 100
    start = 0
    prefix = suffix = ""
    if len(shown) > width:
        start = max(0, min(pos - width // 2, len(shown) - width))
        end = start + width
        prefix = "..." if start > 0 else ""
        suffix = "..." if end < len(shown) else ""
        shown = shown[start:end]
    return f"  {prefix}{shown}{suffix}\n  {' ' * (len(prefix) + pos - start)}^"
