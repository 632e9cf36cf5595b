"""Schemas of tabular data: the model, inference from data, and the editable YAML form.

A :class:`Schema` lists the expected columns in order, each a :class:`ColumnSchema` with its
logical type, what inference observed (``null_fraction``) and the constraints
:func:`~modelyard.data._validation.validate` checks (``min``/``max``, ``allowed``,
``max_null_fraction``, ``unique``, ``min_length``/``max_length``, ``pattern``), the severity of
a failed check and a ``pii`` tag. It is a pydantic model, so it is stored as JSON with a dataset
version (``schema.model_dump(mode="json")`` / ``Schema.model_validate(data)``) and edited as YAML
(:func:`save_schema` / :func:`load_schema`)::

    columns:
    - name: age
      type: integer
      nullable: false
      null_fraction: 0.0
      min: 18
      max: 99
      unique: false
      severity: error
      pii: false
    allow_extra_columns: false
    primary_key: [customer_id]

``pattern`` is a regular expression (RE2 syntax, as pyarrow runs it) that every value must match
whole. Inference sets it only when one of :data:`PATTERN_HINTS` holds for every value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelyard.data._tables import LogicalType, logical_type, read_table
from modelyard.errors import InvalidInputError

__all__ = [
    "ColumnSchema",
    "LogicalType",
    "PATTERN_HINTS",
    "Schema",
    "Severity",
    "infer_schema",
    "load_schema",
    "save_schema",
]

Severity = Literal["error", "warning"]

PATTERN_HINTS: dict[str, str] = {
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "iso_datetime": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?",
    "iso_date": r"\d{4}-\d{2}-\d{2}",
    "email": r"[^@\s]+@[^@\s]+\.[^@\s]+",
    "digits": r"\d+",
}
"""Patterns inference recognises (tried in this order), by name; each must match a value whole."""

_CATEGORY_RATIO = 4
"""A string column is categorical only if it has at least this many values per distinct value."""
_SAMPLE = 10_000
"""Values looked at first to rule out categories and pattern hints cheaply."""


def anchored(pattern: str) -> str:
    """Return ``pattern`` wrapped so that it must match a whole value (RE2 syntax)."""
    return f"^(?:{pattern})$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ColumnSchema(_Model):
    """One expected column: its type, what inference observed, and the constraints checked on it."""

    name: str = Field(min_length=1)
    type: LogicalType
    nullable: bool = True
    """Whether nulls are allowed at all (``false`` means a limit of 0 on the null fraction)."""
    null_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    """The fraction of nulls inference observed (informational, not checked)."""
    max_null_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    """The largest fraction of nulls allowed."""
    min: int | float | None = None
    """The smallest value allowed (numeric columns)."""
    max: int | float | None = None
    """The largest value allowed (numeric columns)."""
    allowed: list[str | int | float | bool] | None = None
    """The values allowed (a categorical domain)."""
    unique: bool = False
    """No value may appear twice (nulls excepted)."""
    min_length: int | None = Field(default=None, ge=0)
    """The fewest characters a string value may have."""
    max_length: int | None = Field(default=None, ge=0)
    """The most characters a string value may have."""
    pattern: str | None = None
    """A regular expression (RE2 syntax) every value must match whole."""
    severity: Severity = "error"
    """What a failed check of this column is: ``error`` fails validation, ``warning`` is reported."""
    pii: bool = False
    """Personal data: its values never appear in schemas, profiles, examples or messages."""

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                pc.match_substring_regex(pa.array([""], pa.string()), pattern=anchored(pattern))
            except pa.ArrowInvalid as exc:
                raise ValueError(f"not a valid regular expression (RE2 syntax): {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ColumnSchema:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) is greater than max_length ({self.max_length})")
        return self

    @property
    def null_limit(self) -> float | None:
        """The largest null fraction allowed: 0 when not nullable, else ``max_null_fraction``."""
        return 0.0 if not self.nullable else self.max_null_fraction


class Schema(_Model):
    """The expected columns of a table, in order, and the table-level rules."""

    columns: list[ColumnSchema] = Field(default_factory=list)
    allow_extra_columns: bool = False
    """Whether columns the schema does not list are accepted."""
    primary_key: list[str] = Field(default_factory=list)
    """Columns whose combined values identify a row: duplicates (and nulls) fail validation."""

    @model_validator(mode="after")
    def _names_consistent(self) -> Schema:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"columns listed twice: {', '.join(duplicates)}")
        unknown = [k for k in self.primary_key if k not in names]
        if unknown:
            raise ValueError(f"primary_key names columns the schema does not list: {', '.join(unknown)}")
        if len(set(self.primary_key)) != len(self.primary_key):
            raise ValueError("primary_key lists a column twice")
        return self

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        """Return the schema of the column ``name``.

        Raises:
            InvalidInputError: The schema has no such column.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise InvalidInputError(f"the schema has no column {name!r}; its columns: {', '.join(self.names)}")


# --------------------------------------------------------------------------------------------
# inference


def infer_schema(data: Any, *, max_categories: int = 50, pii: Iterable[str] = ()) -> Schema:
    """Infer a schema from data, to be reviewed and edited.

    Per column: the logical type; ``nullable`` and the observed ``null_fraction``; ``min`` and
    ``max`` for numbers (finite values); for strings with at most ``max_categories`` distinct
    values — and at least four values per distinct value — the type ``categorical`` and the
    ``allowed`` domain (a dictionary-encoded column is always categorical); for other strings
    ``min_length``/``max_length`` and a ``pattern`` when one of :data:`PATTERN_HINTS` holds for
    every value; ``unique`` for integer and string columns with no repeated value. Columns named
    in ``pii`` are tagged and keep no values: no ``min``/``max`` and no ``allowed`` domain.

    Args:
        data: Anything :func:`~modelyard.data._tables.read_table` reads.
        max_categories: The most distinct values a categorical column may have.
        pii: Names of the columns that hold personal data (explicit only, never guessed).

    Returns:
        The inferred schema, with ``allow_extra_columns`` false and no primary key.

    Raises:
        InvalidInputError: The data cannot be read, or ``pii`` names a column the data lacks.
    """
    table = read_table(data)
    pii_names = _check_pii(pii, table.column_names)
    if max_categories < 0:
        raise InvalidInputError(f"max_categories must be 0 or more, not {max_categories}")
    columns = [
        _infer_column(table, name, max_categories=max_categories, pii=name in pii_names) for name in table.column_names
    ]
    return Schema(columns=columns)


def _check_pii(pii: Iterable[str], names: list[str]) -> set[str]:
    if isinstance(pii, str):
        pii = [pii]
    chosen = set(pii)
    unknown = sorted(chosen - set(names))
    if unknown:
        raise InvalidInputError(
            f"pii names columns the data lacks: {', '.join(unknown)}; its columns: {', '.join(names)}"
        )
    return chosen


def _infer_column(table: pa.Table, name: str, *, max_categories: int, pii: bool) -> ColumnSchema:
    column = table.column(name)
    rows = len(column)
    nulls = column.null_count
    kind = logical_type(column.type)
    facts: dict[str, Any] = {
        "name": name,
        "type": kind,
        "nullable": nulls > 0,
        "null_fraction": round(nulls / rows, 6) if rows else 0.0,
        "pii": pii,
    }
    present = rows - nulls
    if kind in (LogicalType.INTEGER, LogicalType.FLOAT) and not pii:
        facts.update(_numeric_range(column))
    elif kind is LogicalType.CATEGORICAL:
        domain = _dictionary_domain(column)
        if domain is not None and len(domain) <= max_categories and not pii:
            facts["allowed"] = domain
    elif kind is LogicalType.STRING:
        domain = _string_domain(column, max_categories, present)
        if domain is not None:
            facts["type"] = LogicalType.CATEGORICAL
            if not pii:
                facts["allowed"] = domain
        else:
            facts.update(_string_facts(column))
    if facts["type"] in (LogicalType.INTEGER, LogicalType.STRING) and present >= 2:
        from modelyard.data._validation import duplicate_count

        facts["unique"] = duplicate_count(table, [name]) == 0
    return ColumnSchema(**facts)


def _numeric_range(column: pa.ChunkedArray) -> dict[str, Any]:
    if pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        column = column.cast(pa.float64())
        finite = pc.is_finite(column)
        if not pc.all(finite).as_py():
            column = column.filter(finite)
    bounds = pc.min_max(column).as_py()
    if bounds["min"] is None:
        return {}
    return {"min": bounds["min"], "max": bounds["max"]}


def _dictionary_domain(column: pa.ChunkedArray) -> list[Any] | None:
    used: set[Any] = set()
    for chunk in column.chunks:
        indices = pc.drop_null(chunk.indices).to_numpy(zero_copy_only=False)
        used.update(chunk.dictionary.take(pa.array(np.unique(indices))).to_pylist())
    used.discard(None)
    return _sorted_domain(used)


def _string_domain(column: pa.ChunkedArray, max_categories: int, present: int) -> list[Any] | None:
    if present == 0 or max_categories == 0:
        return None
    # Rule most columns out on a sample before hashing them whole.
    if pc.count_distinct(column.slice(0, _SAMPLE)).as_py() > max_categories:
        return None
    values = pc.unique(pc.drop_null(column))
    if len(values) > max_categories or len(values) * _CATEGORY_RATIO > present:
        return None
    return _sorted_domain(values.to_pylist())


def _sorted_domain(values: Iterable[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (str(type(v)), v))


def _string_facts(column: pa.ChunkedArray) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    present = pc.drop_null(column)
    if len(present) == 0:
        return facts
    lengths = pc.min_max(pc.utf8_length(present)).as_py()
    facts["min_length"], facts["max_length"] = lengths["min"], lengths["max"]
    sample = present.slice(0, _SAMPLE)
    for pattern in PATTERN_HINTS.values():
        regex = anchored(pattern)
        if pc.all(pc.match_substring_regex(sample, pattern=regex)).as_py() and (
            len(present) <= _SAMPLE or pc.all(pc.match_substring_regex(present, pattern=regex)).as_py()
        ):
            facts["pattern"] = pattern
            break
    return facts


# --------------------------------------------------------------------------------------------
# YAML


def save_schema(schema: Schema, path: str | os.PathLike[str]) -> None:
    """Write a schema as YAML, for review and editing (atomically: a reader never sees half a file).

    Fields that are not set are left out; every constraint can be added by hand.

    Args:
        schema: The schema.
        path: The file to write.
    """
    import yaml

    target = Path(path)
    text = yaml.safe_dump(
        schema.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True, width=100
    )
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)


def load_schema(path: str | os.PathLike[str]) -> Schema:
    """Read a schema from a YAML file written by :func:`save_schema` (and perhaps edited).

    Args:
        path: The YAML file.

    Returns:
        The schema.

    Raises:
        InvalidInputError: The file is missing, is not valid YAML, or a field is unknown or has a
            wrong value; the message names the file, the field and the fix.
    """
    import yaml

    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"schema file {source} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read schema file {source}: {exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInputError(
            f"schema file {source} is not valid YAML{where}: {problem}; fix the syntax "
            "(a mapping with `columns:`, a list of columns each with `name:` and `type:`)"
        ) from exc
    if not isinstance(document, dict):
        found = "empty" if document is None else f"a {type(document).__name__}"
        raise InvalidInputError(
            f"schema file {source} must hold a mapping with `columns:` at the top level, but it is {found}"
        )
    try:
        return Schema.model_validate(document)
    except ValidationError as exc:
        raise InvalidInputError(_describe_errors(source, exc, document)) from exc


_FIELDS = {
    "schema": list(Schema.model_fields),
    "column": list(ColumnSchema.model_fields),
}
_KNOWN_FIELDS = set(_FIELDS["schema"]) | set(_FIELDS["column"])
_EXPECTED = {
    "min": "a number",
    "max": "a number",
    "allowed": "a list of values (strings, numbers or booleans)",
}
"""What a field of several accepted types should hold, said once instead of once per type."""


def _describe_errors(source: Path, exc: ValidationError, document: dict[str, Any]) -> str:
    problems: dict[str, str] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] != "extra_forbidden":
            # pydantic adds the member type of a union to the location ("min.int", "min.float").
            loc = tuple(k for k in loc if isinstance(k, int) or k in _KNOWN_FIELDS)
        location = _location(loc, document)
        if location in problems:
            continue
        kind = error["type"]
        if kind == "extra_forbidden":
            level = "column" if len(loc) > 2 and loc[0] == "columns" else "schema"
            known = ", ".join(_FIELDS[level])
            problems[location] = f"field {location}: unknown field; remove it or use one of the known fields: {known}"
        elif kind == "missing":
            problems[location] = f"field {location}: required but missing; add it"
        else:
            field = str(loc[-1]) if loc else ""
            detail = f"should be {_EXPECTED[field]}" if field in _EXPECTED and kind != "value_error" else error["msg"]
            detail = detail.removeprefix("Value error, ")
            where = f"field {location}" if location else "the schema"
            problems[location] = f"{where}: {detail}; fix the value"
    listed = list(problems.values())
    more = f" (and {len(listed) - 5} more)" if len(listed) > 5 else ""
    return f"invalid schema file {source}: " + "; ".join(listed[:5]) + more


def _location(loc: tuple[int | str, ...], document: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = document
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            item = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                label += f" ({item['name']})"
            parts.append(label)
            node = item
        else:
            parts.append(f".{key}" if parts else key)
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)
