"""Safe outputs: nothing is deleted or overwritten by surprise.

- An output directory is *claimed* before any work: a lock file makes a concurrent second run fail
  fast (naming the holder), a non-empty directory is refused unless the job resumes or overwrites
  it, and overwrite is allowed only over a directory that xadj itself wrote (it carries a marker).
- Files and directories appear atomically: written under a temporary name in the same directory,
  then renamed (``atomic_dir``, ``atomic_write_text``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

MARKER = ".xadj-output.json"  # written into every output directory xadj owns
LOCK = ".xadj.lock"


class OutputLock:
    """An exclusive ``flock`` on ``<dir>/.xadj.lock``, held for the life of a job."""

    def __init__(self, directory: Path):
        self.path = directory / LOCK
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        f = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise OSError(f"{self.path.parent} is in use by {holder}; wait for it to finish "
                              f"or choose another output directory") from None
            raise OSError(f"{self.path}: cannot lock: {err.strerror}") from err
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != LOCK)


def is_xadj_output(directory: Path, kind: str | None = None) -> bool:
    marker = directory / MARKER
    if not marker.is_file():
        return False
    if kind is None:
        return True
    try:
        return bool(json.loads(marker.read_text()).get("kind") == kind)
    except (ValueError, OSError):
        return False


def claim_output_dir(directory: str | Path, kind: str, *, overwrite: bool = False,
                     resume: bool = False, owned: tuple[str, ...] = ()) -> OutputLock:
    """Checks and locks ``directory`` for a job of ``kind`` (``align``, ``finetune``, ...).

    A new or empty directory is taken. A non-empty one is refused unless ``resume`` (it must be
    an xadj output of the same kind) or ``overwrite`` (same; then the paths listed in ``owned``
    are removed, nothing else). Returns the held lock: release it when the job ends.
    """
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    lock = OutputLock(path)
    lock.acquire()
    try:
        entries = _entries(path)
        if entries and not (resume or overwrite):
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise FileExistsError(
                f"{path} is not empty ({shown}): pass --resume to continue the run there, or "
                f"--overwrite to replace it")
        if entries and not is_xadj_output(path, kind):
            raise FileExistsError(
                f"{path} is not empty and was not written by xadj {kind}; refusing to "
                f"{'resume in' if resume else 'overwrite'} it")
        if overwrite and not resume:
            for name in owned:
                remove(path / name)
        write_marker(path, kind)
    except BaseException:
        lock.release()
        raise
    return lock


def write_marker(directory: Path, kind: str, **extra: Any) -> None:
    import xadj

    atomic_write_text(directory / MARKER, json.dumps(
        {"kind": kind, "xadj_version": xadj.__version__, **extra}, indent=2))


def remove(path: Path) -> None:
    """Removes a file or directory tree if present."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Yields a temporary directory next to ``final``; renamed to ``final`` when the block ends
    without error (removed otherwise). An existing ``final`` is an error unless ``replace``."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not replace:
        raise FileExistsError(f"{final} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            # Two renames keep the window without `final` short; the old copy goes afterwards.
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            remove(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path next to ``path`` to write; renamed to ``path`` (with a file's usual
    mode) when the block ends without error, removed otherwise. Errors name ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OSError(f"{path}: {err.strerror or err}") from err
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file in the same directory."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def clean_temporaries(directory: Path) -> None:
    """Removes what a killed run left behind: ``.<name>.*.tmp`` files and directories."""
    if directory.is_dir():
        for leftover in directory.glob(".*.tmp"):
            remove(leftover)
