"""Which remotes an embedded store knows: ``remotes.json`` in the store's home.

Remotes are client configuration, not data: they live in ``remotes.json`` in the store's home
(``MODELYARD_HOME``, the directory of an embedded store, or beside a ``sqlite:///`` file), written
atomically under a file lock. A JSON file keeps the metadata store free of per-machine paths, and
lets a store name a remote it cannot reach yet. URLs are stored normalised (local paths absolute);
URLs that embed a password are refused (credentials come from the environment)::

    {"default": "backup", "format": 1, "remotes": {"backup": {"url": "/mnt/backup/modelyard"}}}
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelyard.errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from modelyard.names import validate_name

__all__ = ["REMOTES_FILE", "Remote", "RemoteConfig", "normalize_url"]

REMOTES_FILE = "remotes.json"
"""The file, in the store's home, that lists the remotes."""

_CREDENTIALS = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@]*:[^/@]*@")

_list = builtins.list


class Remote(BaseModel):
    """A named remote: an fsspec URL or an absolute local directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    url: str
    default: bool = False
    """Used by push and pull when no remote is named."""


def normalize_url(url: str) -> str:
    """Return the stored form of a remote URL: an absolute path for local directories.

    Raises:
        InvalidInputError: the URL is empty, embeds a password, or names an unknown protocol.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("remote URL is empty: give a directory or a URL such as s3://bucket/prefix.")
    url = url.strip()
    if _CREDENTIALS.match(url):
        raise InvalidInputError(
            "remote URL embeds a password: remove it and give the credentials through the environment "
            "(for example AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or GOOGLE_APPLICATION_CREDENTIALS)."
        )
    if "://" not in url or url.startswith("file://"):
        path = url[len("file://") :] if url.startswith("file://") else url
        return os.path.abspath(os.path.expanduser(path))
    protocol = url.split("://", 1)[0].lower()
    import fsspec  # type: ignore[import-untyped,unused-ignore]

    if protocol not in fsspec.available_protocols():
        raise InvalidInputError(
            f"remote URL {url!r} has an unknown protocol {protocol!r}: use a directory or an fsspec URL "
            "(s3://, gs://, az://, ...)."
        )
    return url.rstrip("/")


class RemoteConfig:
    """The remotes listed in one ``remotes.json`` (read on each call, written atomically under a lock)."""

    def __init__(self, path: Path) -> None:
        """Use the configuration file at ``path`` (created by the first :meth:`add`)."""
        self.path = Path(path)

    def list(self) -> _list[Remote]:
        """Every remote, by name.

        Raises:
            StoreError: the file exists but cannot be read or parsed.
        """
        data = self._read()
        default = data.get("default")
        return [
            Remote(name=name, url=str(entry["url"]), default=name == default)
            for name, entry in sorted(data.get("remotes", {}).items())
        ]

    def get(self, name: str | None = None) -> Remote:
        """The remote called ``name``, or (``None``) the default remote, or the only one.

        Raises:
            NotFoundError: no such remote, or none is configured, or several and none is the default.
        """
        remotes = self.list()
        if name is not None:
            for remote in remotes:
                if remote.name == name:
                    return remote
            known = ", ".join(r.name for r in remotes) or "none"
            raise NotFoundError(
                f"No remote named {name!r} (configured: {known}); add it with `modelyard data remote add`."
            )
        if not remotes:
            raise NotFoundError("No remote is configured: add one with `modelyard data remote add NAME URL`.")
        for remote in remotes:
            if remote.default:
                return remote
        if len(remotes) == 1:
            return remotes[0]
        names = ", ".join(r.name for r in remotes)
        raise InvalidInputError(
            f"Several remotes are configured ({names}) and none is the default: name one with --remote."
        )

    def add(self, name: str, url: str, *, default: bool = False, replace: bool = False) -> Remote:
        """Add (or with ``replace``, change) a remote; the first remote added becomes the default.

        Raises:
            InvalidInputError: a bad name or URL.
            ConflictError: a remote with this name exists and ``replace`` is false.
        """
        validate_name(name, "remote name")
        normalized = normalize_url(url)
        with self._locked() as data:
            remotes = data.setdefault("remotes", {})
            if name in remotes and not replace:
                raise ConflictError(
                    f"A remote named {name!r} already exists ({remotes[name]['url']}); "
                    "remove it first or use --replace."
                )
            remotes[name] = {"url": normalized}
            if default or not data.get("default") or data.get("default") not in remotes:
                data["default"] = name
            is_default = data["default"] == name
        return Remote(name=name, url=normalized, default=is_default)

    def remove(self, name: str) -> Remote:
        """Remove a remote (what it holds is left untouched); return it.

        Raises:
            NotFoundError: no such remote.
        """
        with self._locked() as data:
            remotes = data.get("remotes", {})
            if name not in remotes:
                known = ", ".join(sorted(remotes)) or "none"
                raise NotFoundError(f"No remote named {name!r} (configured: {known}).")
            entry = remotes.pop(name)
            was_default = data.get("default") == name
            if was_default:
                data["default"] = next(iter(sorted(remotes)), None) if len(remotes) == 1 else None
        return Remote(name=name, url=str(entry["url"]), default=was_default)

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"format": 1, "default": None, "remotes": {}}
        except OSError as exc:
            raise StoreError(f"cannot read the remotes file {self.path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("remotes", {}), dict):
                raise ValueError("expected an object with a 'remotes' object")
            for entry in data.get("remotes", {}).values():
                if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                    raise ValueError("each remote needs a 'url' string")
        except ValueError as exc:
            raise StoreError(f"the remotes file {self.path} is malformed ({exc}); fix or delete it.") from None
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read the file under an inter-process lock, let the caller change it, write it back atomically."""
        from filelock import FileLock

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from exc
        with FileLock(str(self.path) + ".lock", timeout=30):
            data = self._read()
            yield data
            text = json.dumps(data, indent=2, sort_keys=True) + "\n"
            tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
            try:
                with open(tmp, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise StoreError(f"cannot write the remotes file {self.path}: {exc.strerror or exc}") from exc
