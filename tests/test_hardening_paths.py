"""Hardening: checkouts never write through symbolic links; a full disk is one clear
error and leaves no half blob."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

import mlops_jupyter as mj
from mlops_jupyter.errors import StoreError


def _folder_version(tmp_path: Path) -> str:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("version one\n")
    (src / "top.txt").write_text("top\n")
    return mj.datasets.add(src, name="docs").ref


@pytest.mark.parametrize("with_dest", [False, True])
def test_checkout_subfolder_replaced_by_link_is_not_followed(
    mlops_home: Path, tmp_path: Path, with_dest: bool
) -> None:
    ref = _folder_version(tmp_path)
    dest = tmp_path / "mine" if with_dest else None
    root = Path(mj.datasets.load(ref, dest=dest))
    assert (root / "sub" / "a.txt").read_text() == "version one\n"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text("precious\n")
    shutil.rmtree(root / "sub")
    os.symlink(outside, root / "sub")  # the attack: a checkout folder now points away
    again = Path(mj.datasets.load(ref, dest=dest))
    assert (outside / "a.txt").read_text() == "precious\n"  # untouched
    assert sorted(os.listdir(outside)) == ["a.txt"]
    assert not (again / "sub").is_symlink()
    assert (again / "sub" / "a.txt").read_text() == "version one\n"


def test_checkout_file_replaced_by_link_is_not_written_through(mlops_home: Path, tmp_path: Path) -> None:
    ref = _folder_version(tmp_path)
    root = Path(mj.datasets.load(ref))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (root / "top.txt").unlink()
    os.symlink(victim, root / "top.txt")
    for name in os.listdir(root):
        if name.startswith(".mlops"):
            (root / name).unlink()
    again = Path(mj.datasets.load(ref))
    assert victim.read_text() == "precious\n"
    assert not (again / "top.txt").is_symlink()
    assert (again / "top.txt").read_text() == "top\n"


def test_artifact_folder_download_does_not_follow_links(mlops_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "art"
    (src / "d").mkdir(parents=True)
    (src / "d" / "x.txt").write_text("x")
    with mj.start_run() as run:
        run.log_artifact(src, name="art")
    dest = tmp_path / "dl"
    (dest).mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, dest / "d")
    st = mj.get_store() if hasattr(mj, "get_store") else None
    from mlops_jupyter.tracking import session

    st = session.get_store()
    st.download_artifact(run.id, "art", dest)
    assert os.listdir(outside) == []
    assert (dest / "d" / "x.txt").read_text() == "x"


def _enospc(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_on_blob_write_is_one_clear_error(
    mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_jupyter.store import artifacts

    mj.init()
    f = tmp_path / "big.bin"
    f.write_bytes(os.urandom(4096))
    real_fsync = os.fsync
    monkeypatch.setattr(artifacts.os, "fsync", _enospc)
    with pytest.raises(StoreError, match="disk is full"):
        mj.datasets.add(f, name="big")
    monkeypatch.setattr(artifacts.os, "fsync", real_fsync)
    leftovers = [p for p in (mlops_home / "artifacts").rglob("*") if p.is_file()]
    assert not [p for p in leftovers if p.name.startswith(".tmp-")]
    assert mj.datasets.list_datasets().empty
