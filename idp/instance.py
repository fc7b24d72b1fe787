"""The instance folder: the embedded SQLite database (and its WAL and shared-memory
files), the generated secret, the outbox of mail holding codes. All of it is the
service's alone, so the folder is 0700 and every file in it 0600: at creation, and again
at every start, in case a copy, an older version or another tool left them looser.

SQLite creates its ``-wal``, ``-shm`` and ``-journal`` files with the database file's
own mode, so creating that file 0600 before SQLite opens it is enough for them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("clef")
DIR_MODE = 0o700
FILE_MODE = 0o600


def secure_instance(folder: Path, database: Path | None = None) -> None:
    """Make ``folder`` (0700) if missing and take away any access by group or others
    from it and everything under it; create ``database`` empty and 0600 if missing."""
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(folder, DIR_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            _tighten(Path(root) / name, DIR_MODE)
        for name in files:
            _tighten(Path(root) / name, FILE_MODE)
    if database is not None:
        database.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        create_private_file(database)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is a valid
    SQLite database)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def write_private_file(path: Path, content: bytes) -> None:
    """Write a new file readable by the service's user only (outbox mail)."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


def _tighten(path: Path, allowed: int) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & ~allowed:
        os.chmod(path, mode & allowed)
        log.warning("%s was mode %o; now %o (the instance folder is private)",
                    path, mode, mode & allowed)
