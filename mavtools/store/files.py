"""Files of the cache: private directories, one-sentence errors, atomic and durable writes.

The cache holds a project's job history, so what it creates is its owner's only (directories 0700,
files 0600, whatever the umask), and what it writes appears whole or not at all (a temp name, an
fsync, then a rename). Used by :mod:`mavtools.store.dataset`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from mavtools.errors import CacheError

__all__ = ["create_private", "fsync", "fsync_dir", "mkdirs", "unwritable", "write_atomic"]


def mkdirs(directory: Path) -> None:
    """Create ``directory`` and missing parents with mode 0700, one clear error otherwise."""
    missing = []
    path = directory
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            if path.is_dir():
                continue
            raise CacheError(
                f"The cache directory {path} is a file, not a directory; remove it or set "
                "MAVTOOLS_CACHE_DIR to a writable directory."
            ) from None
        except OSError as exc:
            raise CacheError(
                f"The cache directory {path} cannot be created ({exc.strerror}); set "
                "MAVTOOLS_CACHE_DIR to a writable directory."
            ) from None
        os.chmod(path, 0o700)  # mkdir's mode is reduced by the umask


def unwritable(directory: Path, exc: OSError) -> CacheError:
    return CacheError(
        f"The cache cannot be written in {directory} ({exc.strerror or type(exc).__name__}); "
        "free some space or set MAVTOOLS_CACHE_DIR to a writable directory."
    )


def create_private(path: Path) -> None:
    """Create an empty file readable by its owner only (writers then truncate it, keeping 0600)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system can fsync a directory
        fsync(directory)


def write_atomic(path: Path, data: bytes) -> None:
    temp = path.parent / f".{path.stem}-{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
