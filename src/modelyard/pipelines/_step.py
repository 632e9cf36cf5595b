"""``@step``: a function that becomes a node of the DAG when called inside a pipeline function.

Called inside a pipeline being traced, a step records a call and returns a lazy
:class:`StepOutput` handle (a tuple of handles for a step with several outputs); passing a handle
to another step, directly or inside a list, tuple or dict, draws an edge. Called anywhere else, a
step is the plain function.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import PurePath
from typing import Any, overload

from modelyard.errors import InvalidPipelineError

__all__ = ["Step", "StepOutput", "step"]

_RESOURCE_KEYS = ("cpu", "gpu", "memory")


class StepOutput:
    """A lazy handle on one output of a step call: known only when the pipeline runs."""

    __slots__ = ("index", "node", "trace_id")

    def __init__(self, node: str, index: int, trace_id: int) -> None:
        """Name output ``index`` of node ``node`` in the trace ``trace_id``."""
        self.node = node
        self.index = index
        self.trace_id = trace_id

    def __repr__(self) -> str:
        """Show which step and output this handle stands for."""
        return f"<output {self.index} of step {self.node!r}>"

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise InvalidPipelineError(
            f"The output of step {self.node!r} is only known when the pipeline runs: pass it to another "
            "step (directly or inside a list, tuple or dict) instead of using it in the pipeline function."
        )

    __bool__ = __iter__ = __len__ = __getitem__ = __add__ = __radd__ = __mul__ = __lt__ = __gt__ = _refuse
    __le__ = __ge__ = __sub__ = __truediv__ = __int__ = __float__ = __index__ = __call__ = _refuse

    def __getattr__(self, name: str) -> Any:
        """Refuse attribute access (the value does not exist yet)."""
        if name.startswith("__"):
            raise AttributeError(name)
        return self._refuse()


class Step:
    """A pipeline step: a function plus how to run it (cache, retries, timeout, resources)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool = False,
        retries: int = 0,
        retry_delay: float = 1.0,
        timeout: float | None = None,
        resources: Mapping[str, float] | None = None,
        cache_expiration: float | timedelta | None = None,
        depends_on: Sequence[Any] = (),
        outputs: int | None = None,
    ) -> None:
        """Wrap ``fn``; see :func:`step` for the options."""
        if not callable(fn):
            raise InvalidPipelineError(f"@step decorates a function, not {type(fn).__name__}.")
        self.fn = fn
        self.name: str = str(name or getattr(fn, "__name__", "step"))
        if not isinstance(self.name, str) or not self.name.isidentifier() and not _plain_name(self.name):
            raise InvalidPipelineError(f"step name {self.name!r} is invalid; use letters, digits, _ . -")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise InvalidPipelineError(f"step {self.name!r}: retries must be an integer >= 0, got {retries!r}.")
        if not isinstance(retry_delay, (int, float)) or retry_delay < 0:
            raise InvalidPipelineError(f"step {self.name!r}: retry_delay must be a number of seconds >= 0.")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise InvalidPipelineError(f"step {self.name!r}: timeout must be a number of seconds > 0, or None.")
        if isinstance(cache_expiration, timedelta):
            cache_expiration = cache_expiration.total_seconds()
        if cache_expiration is not None and (not isinstance(cache_expiration, (int, float)) or cache_expiration <= 0):
            raise InvalidPipelineError(f"step {self.name!r}: cache_expiration must be seconds > 0 or a timedelta.")
        self.resources = {"cpu": 1.0, "gpu": 0.0, **dict(resources or {})}
        for key, value in self.resources.items():
            if key not in _RESOURCE_KEYS or not isinstance(value, (int, float)) or value < 0:
                raise InvalidPipelineError(
                    f"step {self.name!r}: resources must map {', '.join(_RESOURCE_KEYS)} to numbers >= 0, "
                    f"got {key}={value!r}."
                )
        self.cache = bool(cache)
        self.retries = retries
        self.retry_delay = float(retry_delay)
        self.timeout = None if timeout is None else float(timeout)
        self.cache_expiration = None if cache_expiration is None else float(cache_expiration)
        if isinstance(depends_on, (str, bytes)) or not all(isinstance(d, (str, PurePath)) for d in depends_on):
            raise InvalidPipelineError(
                f"step {self.name!r}: depends_on is a list of file or directory paths, dataset references "
                f"(name@3) or packages (package:scikit-learn), got {depends_on!r}."
            )
        self.depends_on = tuple(depends_on)
        self.outputs = outputs if outputs is not None else _outputs_from_annotation(fn)
        if not isinstance(self.outputs, int) or self.outputs < 1:
            raise InvalidPipelineError(f"step {self.name!r}: outputs must be an integer >= 1.")
        self.qualname = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', self.name)}"
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside a pipeline being traced, record a call and return its output handle(s); else call the function."""
        from modelyard.pipelines._dag import current_builder

        builder = current_builder()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add_call(self, args, kwargs)

    def __repr__(self) -> str:
        """Name the step and its function."""
        return f"<step {self.name!r} ({self.qualname})>"

    def options(self) -> dict[str, Any]:
        """The step's options as JSON (shown in the DAG)."""
        return {
            "cache": self.cache,
            "retries": self.retries,
            "timeout": self.timeout,
            "resources": self.resources,
        }


def _plain_name(name: str) -> bool:
    return bool(name) and len(name) <= 200 and all(c.isalnum() or c in "_.-" for c in name)


def _outputs_from_annotation(fn: Callable[..., Any]) -> int:
    """How many outputs ``-> tuple[A, B]`` declares (1 for anything else, including ``tuple[A, ...]``)."""
    try:
        hints = typing.get_type_hints(fn)
        annotation: Any = hints.get("return")
    except Exception:  # noqa: BLE001 - unresolvable annotations: read the text
        annotation = inspect.signature(fn).return_annotation
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        for prefix in ("tuple[", "Tuple[", "typing.Tuple["):
            if text.startswith(prefix) and text.endswith("]"):
                inner = text[len(prefix) : -1]
                if "..." in inner or not inner:
                    return 1
                return _count_top_level(inner)
        return 1
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and Ellipsis not in args:
            return len(args)
    return 1


def _count_top_level(text: str) -> int:
    depth, count = 0, 1
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            count += 1
    return count


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    cache: bool = False,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    resources: Mapping[str, float] | None = None,
    cache_expiration: float | timedelta | None = None,
    depends_on: Sequence[Any] = (),
    outputs: int | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function a pipeline step; usable as ``@step`` or ``@step(...)``.

    Args:
        fn: the function (when used without parentheses).
        **options: ``name`` (default: the function's name); ``cache`` (reuse outputs when the code,
            parameters, inputs and ``depends_on`` are unchanged; off by default, because a cached
            side-effecting step goes stale silently); ``retries`` and ``retry_delay`` (seconds,
            doubled after each try); ``timeout`` (seconds; the step then runs in a child process
            that is stopped at the limit); ``resources`` (``{"cpu": 1, "gpu": 0, "memory": 0}``,
            Ray's ``num_cpus``/``num_gpus``/``memory`` in bytes); ``cache_expiration`` (seconds or
            a ``timedelta``); ``depends_on`` (files, directories, dataset version references such as
            ``iris@3`` or installed package versions such as ``package:scikit-learn``, all part of the
            cache key); ``outputs`` (how many values the step returns as a tuple; default from a
            ``-> tuple[A, B]`` annotation, else 1).

    Example::

        @yard.step(cache=True, retries=2)
        def train(df, C: float = 1.0): ...
    """
    if fn is not None:
        return Step(fn, **options)

    def decorate(func: Callable[..., Any]) -> Step:
        return Step(func, **options)

    return decorate
