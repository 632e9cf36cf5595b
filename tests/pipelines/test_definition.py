"""Defining pipelines: decorators, DAG tracing, typed parameters, invalid graphs, loading by path."""

from __future__ import annotations

from typing import Any

import pytest

import modelyard as yard
from modelyard.errors import InvalidPipelineError, PipelineNotFoundError
from modelyard.pipelines import Pipeline, Step, load_pipeline


@yard.step
def one(x: int) -> int:
    return x + 1


@yard.step(name="two", retries=1, outputs=2)
def pair(x: int) -> Any:
    return x, -x


@yard.step()
def gather(items: list[int], extra: dict[str, Any]) -> int:
    return sum(items) + sum(extra.values())


def test_decorators_work_with_and_without_parentheses() -> None:
    assert isinstance(one, Step) and one.name == "one" and one.outputs == 1
    assert isinstance(pair, Step) and pair.name == "two" and pair.retries == 1 and pair.outputs == 2

    @yard.pipeline
    def plain() -> Any:
        return one(1)

    @yard.pipeline(name="named")
    def other() -> Any:
        return one(2)

    assert isinstance(plain, Pipeline) and plain.name == "plain"
    assert other.name == "named"


def test_a_step_called_outside_a_pipeline_is_the_plain_function() -> None:
    assert one(41) == 42
    assert pair(3) == (3, -3)


def test_handles_inside_lists_tuples_and_dicts_draw_edges() -> None:
    @yard.pipeline
    def wiring(n: int = 1) -> Any:
        a = one(n)
        b, c = pair(a)
        return gather([a, b], {"c": c, "k": 5})

    dag = wiring.trace({"n": 3})
    assert list(dag.nodes) == ["one", "two", "gather"]
    assert dag.nodes["two"].upstream == ["one"]
    assert sorted(dag.nodes["gather"].upstream) == ["one", "two"]
    graph = dag.to_json()
    assert ["one", "gather"] in graph["edges"] and ["two", "gather"] in graph["edges"]
    assert {n["name"]: n["outputs"] for n in graph["nodes"]} == {"one": 1, "two": 2, "gather": 1}


def test_repeated_calls_get_numbered_names() -> None:
    @yard.pipeline
    def chain(n: int = 3) -> Any:
        x = 0
        for _ in range(n):
            x = one(x)
        return x

    assert list(chain.trace({"n": 3}).nodes) == ["one", "one_2", "one_3"]


def test_tuple_return_annotation_declares_several_outputs() -> None:
    @yard.step
    def split(x: int) -> tuple[int, str]:
        return x, str(x)

    @yard.step
    def many(x: int) -> tuple[int, ...]:
        return (x,)

    assert split.outputs == 2
    assert many.outputs == 1


def test_using_an_output_in_the_pipeline_function_is_refused_at_definition() -> None:
    with pytest.raises(InvalidPipelineError, match="only known when the pipeline runs"):

        @yard.pipeline
        def branching(n: int = 1) -> Any:
            if one(n) > 2:
                return one(5)
            return None


def test_cycles_and_dangling_edges_are_refused() -> None:
    """Tracing only ever draws edges to earlier calls; the graph check still refuses any cycle."""
    from modelyard.pipelines._dag import check_acyclic

    assert check_acyclic({"a": [], "b": ["a"], "c": ["a", "b"]}, "ok") == ["a", "b", "c"]
    with pytest.raises(InvalidPipelineError, match="cycle through steps a, b"):
        check_acyclic({"a": ["b"], "b": ["a"], "c": []}, "looped")
    with pytest.raises(InvalidPipelineError, match="depends on unknown step 'ghost'"):
        check_acyclic({"a": ["ghost"]}, "dangling")


def test_a_pipeline_without_steps_is_refused() -> None:
    with pytest.raises(InvalidPipelineError, match="calls no step"):

        @yard.pipeline
        def empty() -> None:
            return None


def test_an_output_of_another_trace_is_refused() -> None:
    leaked: list[Any] = []

    @yard.pipeline
    def first() -> Any:
        out = one(1)
        leaked.append(out)
        return out

    with pytest.raises(InvalidPipelineError, match="another pipeline or another trace"):

        @yard.pipeline
        def second() -> Any:
            return one(leaked[0])


def test_step_options_are_validated() -> None:
    def f() -> int:
        return 1

    with pytest.raises(InvalidPipelineError, match="retries"):
        yard.step(retries=-1)(f)
    with pytest.raises(InvalidPipelineError, match="timeout"):
        yard.step(timeout=0)(f)
    with pytest.raises(InvalidPipelineError, match="resources"):
        yard.step(resources={"tpu": 1})(f)
    with pytest.raises(InvalidPipelineError, match="step name"):
        yard.step(lambda: 1)


def test_parameters_are_typed_coerced_and_validated() -> None:
    @yard.pipeline
    def typed(n: int, C: float = 1.0, flag: bool = False, name: str = "a", sizes: list[int] | None = None) -> Any:
        return one(n)

    spec = typed.params
    values = spec.coerce({"n": "3", "C": "0.5", "flag": "true", "sizes": "[1, 2]"})
    assert values == {"n": 3, "C": 0.5, "flag": True, "name": "a", "sizes": [1, 2]}
    assert spec.coerce({"n": 2, "C": 1})["C"] == 1.0
    with pytest.raises(InvalidPipelineError, match="parameter 'n' must be int, got 'abc'"):
        spec.coerce({"n": "abc"})
    with pytest.raises(InvalidPipelineError, match="needs parameter 'n'"):
        spec.coerce({})
    with pytest.raises(InvalidPipelineError, match="no parameter 'gamma'; its parameters are: n, C, flag"):
        spec.coerce({"n": 1, "gamma": 2})
    with pytest.raises(InvalidPipelineError, match="parameter 'flag' must be bool"):
        spec.coerce({"n": 1, "flag": "maybe"})
    with pytest.raises(InvalidPipelineError, match="parameter 'C' must be float"):
        spec.coerce({"n": 1, "C": True})


@pytest.mark.parametrize("value", ["; rm -rf /", "$(id)", "`id`", "a && echo pwned"])
def test_shell_like_parameter_values_are_only_data(value: str) -> None:
    @yard.pipeline
    def echo(name: str = "x") -> Any:
        return one(1)

    assert echo.params.coerce({"name": value}) == {"name": value}


def test_load_pipeline_by_import_path() -> None:
    found = load_pipeline("tests.pipelines.example_pipelines:numbers")
    assert found.name == "numbers"
    assert found.target == "tests.pipelines.example_pipelines:numbers"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:p", "cannot be imported"),
        ("tests.pipelines.example_pipelines:nope", "has no attribute 'nope'"),
        ("tests.pipelines.example_pipelines:make", "not a pipeline"),
        ("just-a-name", "must be an import path"),
        ("bad path:p", "is not module.path:attribute"),
    ],
)
def test_unknown_pipeline_paths_are_clear_errors(target: str, message: str) -> None:
    with pytest.raises(PipelineNotFoundError, match=message):
        load_pipeline(target)
