"""Files written whole or not at all (a temporary name, then an atomic rename), the write errors a full disk
raises, and output folders claimed by one command at a time (no torch, no heavy imports)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from alembert.errors import AlembertError, ConfigError


try:  # POSIX advisory locks: released by the kernel when the process dies (kill -9 leaves no stale lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows: an exclusively created lock file instead
    fcntl = None  # type: ignore[assignment]


__all__ = [
    "LOCK_NAME",
    "FolderClaim",
    "atomic_folder",
    "check_output_file",
    "is_write_error",
    "write_error_reason",
    "write_json_atomic",
]

LOCK_NAME = ".alembert.lock"


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to ``path`` via a temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")
    os.replace(tmp, path)


def atomic_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a fresh temporary folder, then move it to ``target`` (replacing any old one).

    A crash during ``write`` leaves ``target`` as it was; a full disk raises :class:`AlembertError` and
    leaves the last good folder intact.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
    except Exception as err:
        if not is_write_error(err):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        raise AlembertError(
            f"could not write {target} ({write_error_reason(err)}); the previous copy is intact"
        ) from err
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def check_output_file(path: str | Path, what: str) -> Path:
    """Check, before any long work, that a result file can be written at ``path`` (its folder is created).

    Raises:
        ConfigError: ``path`` is a folder, or its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{what} {path}: cannot create its folder ({err.strerror or err})") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{what} {path}: not writable")
    return path


def is_write_error(err: BaseException) -> bool:
    """Whether ``err`` is a failed write (a full disk, a quota, a read-only file system), whichever writer raised it.

    ``OSError`` from Python's own writes; ``SafetensorError`` from safetensors and ``RuntimeError`` from
    ``torch.save`` (``PytorchStreamWriter failed writing file``) wrap the same failure in their own types.
    """
    if isinstance(err, OSError):
        return True
    text = str(err).lower()
    if type(err).__name__ == "SafetensorError":
        return True
    return isinstance(err, RuntimeError) and any(
        word in text for word in ("write", "writing", "no space", "storagefull", "quota", "read-only")
    )


def write_error_reason(err: BaseException) -> str:
    """A short reason for a failed write (``No space left on device``)."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = str(err)
    if "StorageFull" in text or "No space" in text or "os error 28" in text:
        return os.strerror(errno.ENOSPC)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


def _main_process() -> bool:
    """Rank 0 of a ``torchrun``/Accelerate launch (or a single process): the one that claims output folders."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0) == 0


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_NAME) if folder.is_dir() else []


class FolderClaim:
    """An output folder held by one command while it runs, so that two commands never write into one folder.

    :meth:`acquire` creates the folder if needed and takes an advisory lock on ``.alembert.lock`` inside it (the
    kernel drops the lock when the process ends, even by ``kill -9``); :meth:`release` removes the lock file and
    any folder the claim created that stayed empty. Under a multi-process launch every rank checks the folder and
    only rank 0 locks it.
    """

    def __init__(self, path: Path, fd: int | None, created: list[Path]) -> None:
        self.path = path
        self._fd = fd
        self._created = created

    @classmethod
    def acquire(cls, path: str | Path, *, what: str, must_be_empty: bool, hint: str = "") -> FolderClaim:
        """Claim ``path`` for this command.

        Args:
            path: the output folder.
            what: how messages name it (``output_dir``, ``--output``).
            must_be_empty: refuse a folder that already holds files (a new run, a new report).
            hint: what to do instead, appended to the "already holds files" message.

        Raises:
            ConfigError: the path is a file, cannot be created or written (permissions, a read-only file system),
                is in use by another command, or already holds files when ``must_be_empty``.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{what} {path} is a file, not a folder; choose a folder")
        if not _main_process() or not (path / LOCK_NAME).exists():  # no other command holds it: no need to lock
            cls._check(path, what, must_be_empty, hint)  # to refuse it (every rank refuses, none waits)
        if not _main_process():
            return cls(path, None, [])
        created = [parent for parent in (path, *path.parents) if not parent.exists()]
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"{what} {path}: cannot create the folder ({err.strerror or err})") from None
        claim = cls(path, None, created)
        try:
            claim._fd = claim._lock(what)  # first: a folder in use is said to be in use, not just "not empty"
            cls._check(path, what, must_be_empty, hint)
        except BaseException:
            claim.release()
            raise
        return claim

    @staticmethod
    def _check(path: Path, what: str, must_be_empty: bool, hint: str) -> None:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{what} {path} is a file, not a folder; choose a folder")
        if must_be_empty and _entries(path):
            hint = hint or "choose a new folder"
            raise ConfigError(f"{what} {path} already holds files; {hint} (nothing is overwritten)")

    def _lock(self, what: str) -> int:
        lock = self.path / LOCK_NAME
        for _ in range(10):
            try:
                flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if fcntl is None else 0)
                fd = os.open(lock, flags, 0o644)
            except FileExistsError:
                in_use = f"{what} {self.path} is in use by another alembert command ({lock} exists)"
                raise ConfigError(in_use) from None
            except OSError as err:
                reason = err.strerror or err
                raise ConfigError(f"{what} {self.path}: cannot write into the folder ({reason})") from None
            if fcntl is None:
                return fd
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ConfigError(
                    f"{what} {self.path} is in use by another alembert command (pid {holder}); wait for it to end "
                    "or choose another folder"
                ) from None
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file that its holder removed while this process waited for it
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return fd
            os.close(fd)
        raise ConfigError(f"{what} {self.path}: cannot take the folder's lock file {lock}")  # pragma: no cover

    def release(self) -> None:
        """Give the folder back: remove the lock file, and the folders the claim created if they stayed empty."""
        if self._fd is not None:
            try:
                os.unlink(self.path / LOCK_NAME)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        for folder in self._created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break
        self._created = []

    def __enter__(self) -> FolderClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
