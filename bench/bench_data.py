"""h. Dataset versions side by side with DVC: add (copy and --link), re-add, push, pull.

usage: .venv/bin/python bench/bench_data.py [--quick] [--only add,readd,push]   (needs bench/setup_dvc.sh)

Data (untimed, random bytes): one 1 GiB file and a directory of 10,000 files of 50 KiB
(256 MiB and 2,000 files with --quick), written under /tmp and synced. Before every timed step the
whole machine is synced (untimed), so no step pays for the dirty pages of the one before; every
source file is in the page cache for both tools. Each modelyard step runs in a fresh interpreter of
the project venv (this script's ``side`` mode, timing the Python API call only: the store was
opened before the timer starts); each DVC step is the wall time of the ``dvc`` command (DVC is a
CLI). Each round's modelyard store is also its ``MODELYARD_HOME``, so its stat cache starts empty
(the first adds hash everything) and the API and CLI re-adds share it, as a user's commands would.
The plain-copy floor is measured in the same run:

- ``cp`` + ``fsync`` of the 1 GiB file;
- hashing (BLAKE3) and copying the 10,000 files in one thread, then one ``sync``.

Cases and targets (issue 4, section 8), modelyard vs DVC:

- add the big file by copy: ``yard.data.add(big)`` vs ``dvc add big.bin``; <= 1.25x the cp+fsync floor;
- add it with ``link=True`` (protected hardlink) vs the same ``dvc add``; >= 10x faster than DVC;
- add the 10,000 files: ``yard.data.add(dir)`` vs ``dvc add dir``; >= 4x faster than DVC;
- re-add them unchanged: the Python API call < 0.15 s; the whole ``modelyard data add`` process
  faster than ``dvc status``;
- push both datasets to a local directory: ``yard.data.push`` vs ``dvc push``; <= 1.3x the floor
  and faster than DVC;
- pull them into an empty store: ``yard.data.pull`` vs ``dvc pull`` in a fresh repo; <= 1.3x the
  floor and >= 2.5x faster than DVC.

Full runs repeat everything in 3 rounds (fresh stores each time) and report medians; a round
measures its own floors first, and targets against the floor use the median of the per-round
ratios, so a disk whose speed drifts during the run (a shared machine) does not decide the result.
The push/pull floor is the sum of both floors (the same bytes). DVC does not fsync what it writes;
modelyard makes every blob durable before it records or publishes anything. The table prints both
tools, the floor, both ratios, the target and PASS/FAIL; the per-round figures follow as notes (on a
shared machine, compare the ratios of one round rather than figures across runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

DVC_VENV = C.BENCH_DIR / ".venv-dvc"
DVC_CLI = DVC_VENV / "bin" / "dvc"
PROJECT = "bench"
FILE_SIZE = 50 * 1024


# ---------------------------------------------------------------- modelyard side (fresh interpreter)


def _open(home: str) -> Any:
    import modelyard as yard

    yard.set_uri(home)
    yard.set_project(PROJECT)
    from modelyard.errors import ConflictError

    client = yard.get_client()
    try:  # open and migrate the store before any timer
        client.create_project(PROJECT)
    except ConflictError:
        pass
    client.data.list()
    return yard


def _remote_api(yard: Any) -> tuple[Any, Any, Any]:
    """push, pull, add_remote: the public names once re-exported, else the module's."""
    from modelyard.data import _remotes

    data = yard.data
    return (
        getattr(data, "push", _remotes.push),
        getattr(data, "pull", _remotes.pull),
        getattr(data, "add_remote", _remotes.add_remote),
    )


def side(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["add", "push", "pull", "floor-many"])
    ap.add_argument("--home")
    ap.add_argument("--src")
    ap.add_argument("--dst")
    ap.add_argument("--name")
    ap.add_argument("--link", action="store_true")
    ap.add_argument("--remote")
    a = ap.parse_args(argv)
    try:
        if a.op == "floor-many":
            C.emit({"seconds": floor_many(Path(a.src), Path(a.dst))})
            return
        yard = _open(a.home)
        push, pull, add_remote = _remote_api(yard)
        if a.op == "add":
            t0 = time.perf_counter()
            version = yard.data.add(a.src, name=a.name, link=a.link)
            seconds = time.perf_counter() - t0
            C.emit(
                {
                    "seconds": seconds,
                    "version": version.version,
                    "num_files": version.num_files,
                    "size": version.size,
                    "digest": version.digest,
                }
            )
        elif a.op == "push":
            add_remote("bench", a.remote)
            t0 = time.perf_counter()
            report = push(remote="bench")
            seconds = time.perf_counter() - t0
            C.emit({"seconds": seconds, "bytes": report.bytes, "blobs": report.blobs, "versions": _refs(report)})
        else:
            add_remote("bench", a.remote)
            t0 = time.perf_counter()
            report = pull(remote="bench")
            seconds = time.perf_counter() - t0
            digests = {v.ref: v.digest for v in report.versions}
            # Read back: the pulled versions are recorded with their files, and every blob is stored.
            client = yard.get_client()
            for ref, digest in digests.items():
                shown = client.data.show(ref)
                assert shown.digest == digest, ref
                blobs = client.backend.blobs
                assert all(blobs.exists(f.digest) for f in shown.files), ref
            C.emit({"seconds": seconds, "bytes": report.bytes, "blobs": report.blobs, "versions": digests})
    except Exception as e:
        C.emit({"error": C.short_error(e)})
        raise


def _refs(report: Any) -> dict[str, str]:
    return {v.ref: v.digest for v in report.versions}


def floor_many(src: Path, dst: Path) -> float:
    """Hash (BLAKE3) and copy every file of ``src`` into ``dst`` in one thread, then one sync."""
    import blake3

    dst.mkdir(parents=True, exist_ok=True)
    names = sorted(os.listdir(src))
    t0 = time.perf_counter()
    for name in names:
        with open(src / name, "rb") as f:
            data = f.read()
        blake3.blake3(data).hexdigest()
        with open(dst / name, "wb") as out:
            out.write(data)
    os.sync()
    return time.perf_counter() - t0


# ---------------------------------------------------------------- orchestrator


def _sync() -> None:
    os.sync()
    time.sleep(0.2)


def _home_env(home: str) -> dict[str, str]:
    """The environment of a modelyard step: its home (and so its stat cache) is its store's directory.

    Each round starts with fresh stores and so with an empty stat cache; within a round the API and
    the CLI share it, as one user's successive commands would.
    """
    return C.tool_env({"MODELYARD_HOME": home})


def _side(args: list[str], timeout: float = 900) -> dict[str, Any]:
    _sync()
    home = args[args.index("--home") + 1] if "--home" in args else None
    proc = subprocess.run(
        [str(C.MODELYARD_PY), str(Path(__file__).resolve()), "side", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_home_env(home) if home else C.tool_env(),
        cwd="/tmp",
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    out = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or not lines or out.get("error"):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        C.log(f"modelyard {' '.join(args[:1])} failed (rc={proc.returncode}):\n    " + "\n    ".join(tail))
        raise C.SideError(out.get("error") or (tail[-1] if tail else f"exit code {proc.returncode}"))
    return out


def _timed(cmd: list[str], cwd: Path, timeout: float = 900, env: dict[str, str] | None = None) -> float:
    """Wall time of one command (after an untimed sync); raises SideError when it fails."""
    _sync()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env or _dvc_env())
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-10:]
        C.log(f"{' '.join(Path(c).name if '/' in c else c for c in cmd[:3])} failed:\n    " + "\n    ".join(tail))
        raise C.SideError(tail[-1] if tail else f"exit code {proc.returncode}")
    return seconds


def _dvc_version() -> str:
    if not DVC_CLI.exists():
        return "DVC not installed"
    found = subprocess.run([str(DVC_CLI), "--version"], capture_output=True, text=True, env=_dvc_env(), timeout=60)
    return f"DVC {found.stdout.strip() or '?'}"


def _dvc_env() -> dict[str, str]:
    return C.tool_env({"DVC_NO_ANALYTICS": "1", "GIT_PYTHON_REFRESH": "quiet"})


def _dvc(args: list[str], cwd: Path) -> None:
    subprocess.run([str(DVC_CLI), *args], check=True, capture_output=True, cwd=cwd, env=_dvc_env(), timeout=600)


def _dvc_init(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    _dvc(["init", "--no-scm", "-q"], repo)
    _dvc(["config", "core.analytics", "false"], repo)


def make_data(root: Path, big_bytes: int, files: int) -> tuple[Path, Path]:
    """A file of ``big_bytes`` random bytes and a directory of ``files`` random 50 KiB files."""
    big = root / "data" / "big.bin"
    many = root / "data" / "many"
    many.mkdir(parents=True)
    with open(big, "wb") as out:
        left = big_bytes
        while left:
            n = min(left, 64 << 20)
            out.write(os.urandom(n))
            left -= n
    block = os.urandom(FILE_SIZE + files)
    for i in range(files):
        # Distinct content per file (a sliding window over one random block), cheap to produce.
        (many / f"part-{i:05d}.bin").write_bytes(block[i : i + FILE_SIZE])
    _sync()
    return big, many


def floor_big(big: Path, dst: Path) -> float:
    _sync()
    t0 = time.perf_counter()
    subprocess.run(["cp", str(big), str(dst)], check=True)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - t0


class Samples:
    """Timings of one case over the rounds: modelyard, DVC and the floor of each round."""

    def __init__(self) -> None:
        self.my: list[float] = []
        self.dvc: list[float] = []
        self.floor: list[float] = []
        self.errors: list[str] = []

    @staticmethod
    def _median(xs: list[float]) -> float | None:
        return C.median(xs) if xs else None

    @property
    def my_median(self) -> float | None:
        return self._median(self.my)

    @property
    def dvc_median(self) -> float | None:
        return self._median(self.dvc)

    @property
    def floor_ratio(self) -> float | None:
        """Median over the rounds of modelyard / that round's floor (robust to a machine that drifts)."""
        pairs = [m / f for m, f in zip(self.my, self.floor, strict=False) if f]
        return self._median(pairs)

    def listing(self, xs: list[float]) -> str:
        return ", ".join(f"{x:.2f}" for x in xs)


@dataclass
class DataRow(C.Row):
    """A row with the plain-copy floor of its bytes, measured in the same rounds."""

    floor: float | None = None
    floor_ratio: float | None = None


def _row(name: str, target: str, samples: Samples, *, dvc_label: str = "DVC") -> DataRow:
    row = DataRow(name, "s", higher_is_better=False, target=target)
    row.floor = samples._median(samples.floor)
    row.floor_ratio = samples.floor_ratio
    row.my = samples.my_median
    row.ml = samples.dvc_median
    row.ml_text = None if row.ml is None else f"{row.ml:,.2f} s ({dvc_label})"
    if len(samples.my) > 1 or len(samples.dvc) > 1:
        row.notes.append(
            f"medians of {max(len(samples.my), len(samples.dvc))} rounds; modelyard [{samples.listing(samples.my)}] s"
            + (f", {dvc_label} [{samples.listing(samples.dvc)}] s" if samples.dvc else "")
        )
    if samples.floor and samples.floor_ratio is not None:
        row.notes.append(
            f"{samples.floor_ratio:.2f}x the plain-copy floor (median of per-round ratios; floors "
            f"[{samples.listing(samples.floor)}] s)"
        )
    row.notes += samples.errors
    return row


def _info(name: str, xs: list[float]) -> C.Row:
    row = C.Row(name, "s", higher_is_better=False, my=C.median(xs) if xs else None, target="-")
    row.ml_text = "-"
    if len(xs) > 1:
        row.notes.append(f"rounds [{', '.join(f'{x:.2f}' for x in xs)}] s")
    return row


def _dvc_init_with_data(repo: Path, big: Path, many: Path) -> None:
    _dvc_init(repo)
    os.link(big, repo / "big.bin")
    shutil.copytree(many, repo / "many", copy_function=os.link)


def one_round(tmp: Path, big: Path, many: Path, sizes: tuple[int, int], only: str, s: dict[str, Samples]) -> None:
    """Measure every case once; each timed step follows an untimed sync."""
    big_bytes, files = sizes
    many_bytes = files * FILE_SIZE
    have_dvc = DVC_CLI.exists()
    floor_1 = floor_big(big, tmp / "floor-big.bin")
    (tmp / "floor-big.bin").unlink(missing_ok=True)
    floor_2 = _side(["floor-many", "--src", str(many), "--dst", str(tmp / "floor-many")])["seconds"]
    shutil.rmtree(tmp / "floor-many", ignore_errors=True)
    s["floor_big"].my.append(floor_1)
    s["floor_many"].my.append(floor_2)
    C.log(f"floors: {floor_1:.2f} s (big file), {floor_2:.2f} s ({files:,} files)")

    home, repo = str(tmp / "my-home"), tmp / "dvc-repo"
    if have_dvc:
        _dvc_init_with_data(repo, big, many)

    def mine(case: str, args: list[str], check: Any, floor: float | None = None) -> dict[str, Any] | None:
        try:
            r = _side(args)
            check(r)
        except (C.SideError, AssertionError, subprocess.TimeoutExpired) as e:
            s[case].errors.append(f"modelyard: {e}")
            return None
        s[case].my.append(r["seconds"])
        if floor is not None:
            s[case].floor.append(floor)
        return r

    def theirs(case: str, args: list[str], cwd: Path = repo) -> None:
        if not have_dvc:
            return
        try:
            s[case].dvc.append(_timed([str(DVC_CLI), *args], cwd))
        except (C.SideError, subprocess.TimeoutExpired) as e:
            s[case].errors.append(f"dvc {' '.join(args)}: {e}")

    def check_add(size: int, n: int, version: int = 1) -> Any:
        def check(r: dict[str, Any]) -> None:
            assert (r["size"], r["num_files"], r["version"]) == (size, n, version), r

        return check

    mine("add_big", ["add", "--home", home, "--src", str(big), "--name", "big"], check_add(big_bytes, 1), floor_1)
    theirs("add_big", ["add", "-q", "big.bin"])
    mine(
        "add_many", ["add", "--home", home, "--src", str(many), "--name", "many"], check_add(many_bytes, files), floor_2
    )
    theirs("add_many", ["add", "-q", "many"])
    if "readd" in only:
        mine("readd", ["add", "--home", home, "--src", str(many), "--name", "many"], check_add(many_bytes, files))
        cmd = [str(C.MODELYARD_CLI), "data", "add", str(many), "--name", "many", "--uri", home, "--project", PROJECT]
        try:
            s["readd_cli"].my.append(_timed(cmd, tmp, env=_home_env(home)))
        except (C.SideError, subprocess.TimeoutExpired) as e:
            s["readd_cli"].errors.append(f"modelyard CLI: {e}")
        theirs("readd_cli", ["status", "-q"])
    if "push" in only:
        both = big_bytes + many_bytes

        def check_push(r: dict[str, Any]) -> None:
            assert r["bytes"] == both and r["blobs"] == files + 1, r

        pushed = mine(
            "push", ["push", "--home", home, "--remote", str(tmp / "my-remote")], check_push, floor_1 + floor_2
        )
        if have_dvc:
            _dvc(["remote", "add", "-d", "local", str(tmp / "dvc-remote")], repo)
        theirs("push", ["push", "-q"])

        def check_pull(r: dict[str, Any]) -> None:
            assert r["bytes"] == both and pushed is not None and r["versions"] == pushed["versions"], r

        mine(
            "pull",
            ["pull", "--home", str(tmp / "my-pulled"), "--remote", str(tmp / "my-remote")],
            check_pull,
            floor_1 + floor_2,
        )
        if have_dvc:
            fresh = tmp / "dvc-pulled"
            _dvc_init(fresh)
            shutil.copy(repo / ".dvc" / "config", fresh / ".dvc" / "config")
            for meta in ("big.bin.dvc", "many.dvc"):
                shutil.copy(repo / meta, fresh / meta)
            theirs("pull", ["pull", "-q"], fresh)
    # Last: --link makes the source file read-only (its inode is now a blob).
    mine(
        "link",
        ["add", "--home", str(tmp / "my-link-home"), "--src", str(big), "--name", "big", "--link"],
        check_add(big_bytes, 1),
    )


def run(quick: bool, only: str = "add,readd,push", rounds: int | None = None) -> list[C.Row]:
    big_bytes = (256 if quick else 1024) << 20
    files = 2_000 if quick else 10_000
    rounds = rounds or (1 if quick else 3)
    size_text = f"{big_bytes >> 20} MiB" if big_bytes < 1 << 30 else f"{big_bytes >> 30} GiB"
    if not DVC_CLI.exists():
        C.log("bench/.venv-dvc missing: run `bash bench/setup_dvc.sh`; DVC columns stay empty")
    tmp = C.make_tmp("data")
    cases = ("floor_big", "floor_many", "add_big", "add_many", "readd", "readd_cli", "push", "pull", "link")
    s = {case: Samples() for case in cases}
    try:
        C.log(f"writing {size_text} + {files:,} x 50 KiB of random data under {tmp}")
        data_root = tmp / "src"
        big, many = make_data(data_root, big_bytes, files)
        for r in range(rounds):
            C.log(f"round {r + 1}/{rounds}")
            work = tmp / f"round-{r}"
            work.mkdir()
            try:
                one_round(work, big, many, (big_bytes, files), only, s)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            # --link left the big file read-only and shared with a store that is gone: rewrite it
            # untouched for the next round (a fresh inode, as the first round had).
            fresh = big.with_suffix(".tmp")
            shutil.copyfile(big, fresh)
            os.replace(fresh, big)
    finally:
        C.rm_tmp(tmp)

    total = f"{(big_bytes + files * FILE_SIZE) / 1e9:.2f} GB"
    rows = [
        _info(f"floor: cp + fsync of the {size_text} file", s["floor_big"].my),
        _info(f"floor: hash + copy {files:,} files, one sync", s["floor_many"].my),
    ]
    add_big = _row(f"add {size_text} file (copy)", "<= 1.25x floor", s["add_big"])
    add_big.passed = s["add_big"].floor_ratio is not None and s["add_big"].floor_ratio <= 1.25
    add_many = _row(f"add {files:,} files of 50 KiB (copy)", ">= 4x faster than DVC", s["add_many"])
    add_many.passed = add_many.ratio is not None and add_many.ratio >= 4
    rows += [add_big, add_many]
    if "readd" in only:
        readd = _row(f"re-add {files:,} files, unchanged (API)", "< 0.15 s", s["readd"])
        readd.ml_text = "-"
        readd.passed = readd.my is not None and readd.my < 0.15
        readd_cli = _row(
            f"re-add {files:,} files, unchanged (CLI)",
            "faster than `dvc status`",
            s["readd_cli"],
            dvc_label="dvc status",
        )
        readd_cli.passed = readd_cli.ratio is not None and readd_cli.ratio > 1
        rows += [readd, readd_cli]
    if "push" in only:
        push = _row(f"push {total} to a local directory", "<= 1.3x floor, < DVC", s["push"])
        push.passed = (s["push"].floor_ratio or 99) <= 1.3 and (push.ratio or 0) > 1
        pull = _row(f"pull {total} into an empty store", "<= 1.3x floor, >= 2.5x DVC", s["pull"])
        pull.passed = (s["pull"].floor_ratio or 99) <= 1.3 and (pull.ratio or 0) >= 2.5
        rows += [push, pull]
    s["link"].dvc = list(s["add_big"].dvc)  # the same `dvc add` of the file
    link = _row(f"add {size_text} file (--link)", ">= 10x faster than DVC", s["link"])
    link.passed = link.ratio is not None and link.ratio >= 10
    rows.append(link)
    return rows


HEADERS = ["benchmark", "modelyard", "DVC", "floor", "vs DVC", "vs floor", "target", "result"]


def table(rows: list[C.Row]) -> str:
    """The side-by-side table: both tools, the floor of the same bytes, both ratios, the target."""
    cells = [HEADERS]
    for r in rows:
        floor = getattr(r, "floor", None)
        floor_ratio = getattr(r, "floor_ratio", None)
        ratio = r.ratio
        dvc = "-" if r.ml is None else C.fmt(r.ml, r.unit)
        if r.ml is not None and "dvc status" in (r.ml_text or ""):
            dvc += " (status)"
        cells.append(
            [
                r.name,
                C.fmt(r.my, r.unit),
                dvc,
                "-" if floor is None else C.fmt(floor, "s"),
                "-" if ratio is None else f"{ratio:,.1f}x faster" if ratio >= 1 else f"{1 / ratio:,.1f}x slower",
                "-" if floor_ratio is None else f"{floor_ratio:,.2f}x floor",
                r.target,
                {True: "PASS", False: "FAIL", None: "info"}[r.passed],
            ]
        )
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)).rstrip() for c in cells[1:]]
    notes = [(r.name, n) for r in rows for n in r.notes]
    if notes:
        lines += ["", "notes:", *(f"  - {name}: {n}" for name, n in notes)]
    lines += [
        "",
        "vs DVC = DVC's time / modelyard's (medians); vs floor = median of the per-round ratios to the plain-copy "
        "floor of the same bytes (cp + fsync; hash + copy + one sync), measured in the same rounds.",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "side":
        side(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="256 MiB + 2,000 files, one round")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (medians are reported); default 3, 1 with --quick")
    ap.add_argument("--only", default="add,readd,push", help="subset: add (always), readd, push (includes pull)")
    args = ap.parse_args()
    rows = run(args.quick, args.only, args.rounds)
    print(f"== h. dataset versions vs DVC ({_dvc_version()})")
    print(table(rows))
    sys.exit(0 if all(r.passed is not False for r in rows) else 1)


if __name__ == "__main__":
    main()
