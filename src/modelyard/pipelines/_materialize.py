"""Materialisers: how a step output is stored and read back, chosen by the value's type.

- JSON values whose types survive a round trip (``None``, ``bool``, ``int``, ``float``, ``str`` and
  lists / string-keyed dicts of them) are stored inline in the store (no blob, no fsync);
- numpy arrays become ``.npy`` blobs;
- pandas and polars DataFrames become Parquet dataset versions (``<pipeline>.<step>``), so they are
  versioned, profiled and linked by lineage like any dataset;
- fitted models (``fit`` + ``predict``) are packaged through the model flavors and registered as a
  version of ``<pipeline>.<step>`` (kind ``model``); one no flavor handles is stored with cloudpickle;
- a type with a materialiser registered by :func:`register_materializer` uses it;
- anything else is stored with cloudpickle, with a warning recorded on the output.

The server never unpickles anything: pickled outputs are only loaded by the client that runs a
pipeline (or asks for an output), as the user's own code.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from modelyard.errors import InvalidInputError

__all__ = ["BlobSink", "decode_output", "encode_output", "register_materializer", "value_digest"]

_INLINE_LIMIT = 64 * 1024
_lock = threading.Lock()


@dataclass(frozen=True)
class _Materializer:
    type: type
    name: str
    save: Callable[[Any], bytes]
    load: Callable[[bytes], Any]


_registry: list[_Materializer] = []


class BlobSink(Protocol):
    """Where blob outputs go (the backend, or a blob store on a Ray worker)."""

    def put(self, data: bytes) -> tuple[str, int]:
        """Store bytes (durable after the next sync); return digest and size."""
        ...

    def get(self, step_run_id: str | None, digest: str) -> bytes:
        """The bytes of a blob output of ``step_run_id``."""
        ...


def register_materializer(
    type_: type, save: Callable[[Any], bytes], load: Callable[[bytes], Any], *, name: str | None = None
) -> None:
    """Store step outputs of ``type_`` (and its subclasses) as ``save(value) -> bytes``, read with ``load``.

    Materialisers registered later win over earlier ones and over the built-in ones.

    Example::

        register_materializer(Vocabulary, lambda v: v.to_json().encode(), lambda b: Vocabulary.from_json(b))
    """
    if not isinstance(type_, type) or not callable(save) or not callable(load):
        raise InvalidInputError("register_materializer(type, save, load) needs a class and two functions.")
    kind = name or f"{type_.__module__}.{type_.__qualname__}"
    if kind in {"inline", "json", "npy", "pickle", "dataset", "model", "parquet"}:
        raise InvalidInputError(f"materialiser name {kind!r} is reserved; pass another name=.")
    with _lock:
        _registry[:] = [m for m in _registry if m.name != kind]
        _registry.append(_Materializer(type_, kind, save, load))


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"[:250]


def _exact_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` reads back from JSON as an equal value of the same types."""
    kind = type(value)
    if kind in (str, int, bool) or value is None:
        return True
    if kind is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if depth > 20:
        return False
    if kind is list:
        return all(_exact_json(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _exact_json(v, depth + 1) for k, v in value.items())
    return False


def value_digest(text: str) -> str:
    """The digest recorded for an inline output (part of downstream cache keys)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _is_dataframe(value: Any) -> str | None:
    module = type(value).__module__
    name = type(value).__name__
    if name == "DataFrame" and (module.startswith("pandas") or module.startswith("polars")):
        return "polars" if module.startswith("polars") else "pandas"
    return None


def _is_model(value: Any) -> bool:
    return (
        callable(getattr(value, "fit", None))
        and callable(getattr(value, "predict", None))
        and not isinstance(value, type)
    )


def encode_output(
    value: Any,
    index: int,
    sink: BlobSink,
    *,
    dataset_name: str | None = None,
    add_dataset: Callable[[Any, str], tuple[str, str]] | None = None,
    add_model: Callable[[Any, str], tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Store one output; return its reference (``index``, ``kind``, ``type``, ``value``/``digest``/``ref``...).

    ``add_dataset(df, name) -> (ref, digest)`` stores a DataFrame as a dataset version; without it
    (on a Ray worker) a DataFrame is stored as a Parquet blob. ``add_model(model, name) -> (ref,
    digest)`` packages a fitted model through the model flavors and registers a version; a model it
    cannot handle is stored with cloudpickle, with the reason as the output's warning.
    """
    type_name = _type_name(value)
    for materializer in reversed(_registry):
        if isinstance(value, materializer.type):
            data = materializer.save(value)
            if not isinstance(data, (bytes, bytearray)):
                raise InvalidInputError(f"materialiser {materializer.name!r} must return bytes from save().")
            digest, size = sink.put(bytes(data))
            return {"index": index, "kind": materializer.name, "type": type_name, "digest": digest, "size": size}
    if _exact_json(value):
        text = json.dumps(value, separators=(",", ":"))
        if len(text) <= _INLINE_LIMIT:
            return {
                "index": index,
                "kind": "inline",
                "type": type_name,
                "value": value,
                "digest": value_digest(text),
                "size": len(text),
            }
        digest, size = sink.put(text.encode())
        return {"index": index, "kind": "json", "type": type_name, "digest": digest, "size": size}
    if type(value).__module__ == "numpy" and type(value).__name__ == "ndarray" and value.dtype != object:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        digest, size = sink.put(buffer.getvalue())
        return {"index": index, "kind": "npy", "type": type_name, "digest": digest, "size": size}
    frame = _is_dataframe(value)
    if frame is not None:
        if add_dataset is not None and dataset_name is not None:
            ref, digest = add_dataset(value, dataset_name)
            return {"index": index, "kind": "dataset", "type": type_name, "ref": ref, "digest": digest}
        buffer = io.BytesIO()
        if frame == "polars":
            value.write_parquet(buffer)
        else:
            value.to_parquet(buffer)
        digest, size = sink.put(buffer.getvalue())
        return {"index": index, "kind": "parquet", "type": type_name, "digest": digest, "size": size}
    model_warning = None
    if _is_model(value) and add_model is not None and dataset_name is not None:
        try:
            ref, digest = add_model(value, dataset_name)
            return {"index": index, "kind": "model", "type": type_name, "ref": ref, "digest": digest}
        except Exception as exc:  # noqa: BLE001 - no flavor fits: fall back to cloudpickle, say why
            model_warning = f"not registered as a model version ({type(exc).__name__}: {exc}); stored with cloudpickle"
    import cloudpickle

    try:
        data = cloudpickle.dumps(value)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means "cannot be stored"
        raise InvalidInputError(
            f"a value of type {type_name} cannot be stored: it is not JSON, an array, a DataFrame or "
            f"picklable ({type(exc).__name__}: {exc}); register a materialiser for it with "
            "modelyard.pipelines.register_materializer(type, save, load)."
        ) from None
    digest, size = sink.put(data)
    if _is_model(value):
        out = {"index": index, "kind": "model", "type": type_name, "digest": digest, "size": size}
        if model_warning is not None:
            out["warning"] = model_warning[:2000]
        return out
    return {
        "index": index,
        "kind": "pickle",
        "type": type_name,
        "digest": digest,
        "size": size,
        "warning": f"no materialiser for {type_name}: stored with cloudpickle (readable only with compatible code)",
    }


def decode_output(
    ref: dict[str, Any],
    step_run_id: str | None,
    sink: BlobSink,
    *,
    load_dataset: Callable[[str], Any] | None = None,
    load_model: Callable[[str], Any] | None = None,
) -> Any:
    """Read an output back from its reference."""
    kind = ref["kind"]
    if kind == "inline":
        return ref["value"]
    if kind == "dataset":
        if load_dataset is None:
            raise InvalidInputError(f"output {ref.get('ref')} is a dataset version; it needs a client to load.")
        frame = load_dataset(ref["ref"])
        if str(ref.get("type", "")).startswith("polars"):
            import polars as pl

            return pl.from_pandas(frame)
        return frame
    if kind == "model" and ref.get("ref"):
        if load_model is None:
            raise InvalidInputError(f"output {ref.get('ref')} is a model version; it needs a client to load.")
        return load_model(ref["ref"])
    data = sink.get(step_run_id, ref["digest"])
    if kind == "json":
        return json.loads(data)
    if kind == "npy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "parquet":
        if str(ref.get("type", "")).startswith("polars"):
            import polars as pl

            return pl.read_parquet(io.BytesIO(data))
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    if kind in ("pickle", "model"):
        import cloudpickle

        return cloudpickle.loads(data)
    for materializer in reversed(_registry):
        if materializer.name == kind:
            return materializer.load(data)
    raise InvalidInputError(
        f"output kind {kind!r} needs a materialiser: register it with register_materializer(..., name={kind!r})."
    )
