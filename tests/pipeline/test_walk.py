"""Walking the paths given to ``add``/``ingest``: regular files only, every other entry
skipped with its reason, nothing that can block or read for ever ever opened."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fileintel.errors import InputError
from fileintel.pipeline.walk import HIDDEN, scan_paths


def _hostile(root: Path) -> Path:
    """A folder with two good files among everything that used to hang or abort a walk."""
    (root / "sub").mkdir(parents=True)
    (root / "good.txt").write_text("good")
    (root / "sub" / "also.txt").write_text("also good")
    os.mkfifo(root / "pipe")
    (root / "zero").symlink_to("/dev/zero")
    (root / "loop").symlink_to(root / "loop")
    (root / "dangling").symlink_to(root / "not-there")
    (root / "sub" / "up").symlink_to(root)
    (root / "link-to-good.txt").symlink_to(root / "good.txt")
    (Path(os.fsdecode(bytes(root) + b"/bad\xff.txt"))).write_text("latin-1 name")
    (root / ".hidden").write_text("hidden")
    return root


def test_a_hostile_folder_yields_its_regular_files_and_says_why_for_the_rest(
    tmp_path: Path,
) -> None:
    root = _hostile(tmp_path / "docs")
    scan = scan_paths([str(root)])  # returns: nothing blocks, nothing reads for ever
    assert sorted(Path(f.path).name for f in scan.files) == ["also.txt", "good.txt"]
    reasons = {Path(s.path).name: s.reason for s in scan.skipped}
    assert reasons == {
        "pipe": "not a regular file (FIFO)",
        "zero": "not a regular file (device)",
        "loop": "symlink loop",
        "dangling": "broken symlink",
        "up": "symlink to a directory (not followed)",
        "bad\\xff.txt": "file name is not valid UTF-8; rename it",
        ".hidden": HIDDEN,
    }
    for s in scan.skipped:
        s.path.encode("utf-8")  # printable and storable
    assert "1 not a regular file (FIFO)" in scan.skipped_summary()
    assert "1 hidden" in scan.skipped_summary()


def test_a_folder_of_nothing_usable_is_one_error_naming_what_was_skipped(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    os.mkfifo(root / "pipe")
    with pytest.raises(InputError) as caught:
        scan_paths([str(root)])
    assert "hold no regular files" in str(caught.value)
    assert "not a regular file (FIFO)" in str(caught.value)


def test_named_special_files_and_bad_names_refuse_everything(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("good")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InputError, match=r"pipe: not a regular file \(FIFO\)"):
        scan_paths([str(good), str(tmp_path / "pipe")])
    with pytest.raises(InputError, match="not a regular file"):
        scan_paths(["/dev/zero"])
    bad = os.fsdecode(bytes(tmp_path) + b"/\xfe.txt")
    Path(bad).write_text("x")
    with pytest.raises(InputError, match=r"\\xfe.txt: file name is not valid UTF-8"):
        scan_paths([bad])


_UNPRIVILEGED_SCAN = """
import sys
from fileintel.errors import InputError
from fileintel.pipeline.walk import scan_paths
try:
    scan = scan_paths(sys.argv[1:])
except InputError as e:
    print("error:", e)
else:
    print(sorted(f.path.rsplit("/", 1)[1] for f in scan.files))
    print([(s.path.rsplit("/", 1)[1], s.reason) for s in scan.skipped])
"""


#: prctl(2) option, and the capabilities that let root read any directory (linux/capability.h).
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop_file_read_override() -> None:  # pragma: no cover - runs in the child before exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _scan_without_override(*paths: Path) -> str:
    """Scan in a child that obeys file modes: as root, without the capabilities that let
    root read any directory (dropped from the bounding set, so the exec'd child lacks them)."""
    done = subprocess.run(
        [sys.executable, "-c", _UNPRIVILEGED_SCAN, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=_drop_file_read_override if os.geteuid() == 0 else None,
    )
    return done.stdout


def test_unreadable_directories_are_named(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "secret.txt").write_text("secret")
    (root / "open.txt").write_text("open")
    os.chmod(root / "locked", 0o000)
    try:
        inside = _scan_without_override(root).splitlines()
        assert inside[0] == "['open.txt']"
        assert "('locked', 'cannot read directory (Permission denied)')" in inside[1]
        alone = _scan_without_override(root / "locked")
        assert alone.startswith("error: nothing was added;")
        assert "locked: cannot read directory (permission denied)" in alone
    finally:
        os.chmod(root / "locked", 0o755)
