"""Dataset versioning through the public API: digests, dedup, versions, load, bad input."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.datasets import hashing
from mlops_jupyter.errors import (
    AmbiguousReferenceError,
    IntegrityError,
    InvalidNameError,
    NotFoundError,
    UsageError,
)


def frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(n),
        "amount": rng.normal(100, 15, n).round(2),
        "city": rng.choice(["paris", "lyon", "nice"], n),
        "churn": rng.random(n) > 0.7,
        "signup": pd.date_range("2024-01-01", periods=n, freq="D"),
    })


# -- digests ------------------------------------------------------------------------
def test_digest_depends_on_values_names_dtypes_and_order() -> None:
    df = frame()
    d = hashing.frame_digest(df)
    assert d == hashing.frame_digest(df.copy())
    changed = df.copy()
    changed.loc[3, "amount"] += 0.01
    assert hashing.frame_digest(changed) != d
    assert hashing.frame_digest(df.rename(columns={"city": "town"})) != d
    assert hashing.frame_digest(df.astype({"id": "int32"})) != d
    assert hashing.frame_digest(df.iloc[::-1].reset_index(drop=True)) != d
    changed = df.copy()
    changed.loc[0, "city"] = "pariss"
    assert hashing.frame_digest(changed) != d


def test_digest_ignores_unnamed_index_but_not_named_one() -> None:
    df = frame()
    filtered = df[df["id"] % 2 == 0]
    assert hashing.frame_digest(filtered) == hashing.frame_digest(filtered.reset_index(drop=True))
    indexed = df.set_index("id")
    assert hashing.frame_digest(indexed) != hashing.frame_digest(df.drop(columns="id"))


def test_digest_same_for_object_and_str_storage_of_text() -> None:
    a = pd.DataFrame({"s": pd.Series(["x", "yy", None], dtype=object)})
    b = pd.DataFrame({"s": pd.Series(["x", "yy", None], dtype="string")})
    assert hashing.frame_digest(a) == hashing.frame_digest(b)
    c = pd.DataFrame({"s": pd.Series(["x", "y", "y"], dtype=object)})
    assert hashing.frame_digest(a) != hashing.frame_digest(c)


def test_digest_nan_and_none_are_missing_and_string_boundaries_matter() -> None:
    a = pd.DataFrame({"x": [1.0, np.nan]})
    b = pd.DataFrame({"x": [1.0, None]})
    assert hashing.frame_digest(a) == hashing.frame_digest(b)
    assert hashing.frame_digest(a) != hashing.frame_digest(pd.DataFrame({"x": [1.0, 0.0]}))
    s1 = pd.DataFrame({"s": ["ab", "c"]})
    s2 = pd.DataFrame({"s": ["a", "bc"]})
    assert hashing.frame_digest(s1) != hashing.frame_digest(s2)


def test_digest_covers_categoricals_and_nullable_types() -> None:
    a = pd.DataFrame({"c": pd.Categorical(["a", "b", "a"]), "n": pd.array([1, None, 3], dtype="Int64")})
    b = a.copy()
    b["n"] = pd.array([1, None, 4], dtype="Int64")
    assert hashing.frame_digest(a) != hashing.frame_digest(b)
    c = a.copy()
    c["c"] = pd.Categorical(["a", "b", "b"])
    assert hashing.frame_digest(a) != hashing.frame_digest(c)


# -- versions -----------------------------------------------------------------------
def test_add_numbers_versions_and_dedups(mlops_home: Path) -> None:
    df = frame()
    v1 = mj.datasets.add(df, name="churn", description="first pull")
    assert (v1.ref, v1.created, v1.rows, v1.columns) == ("churn@v1", True, 50, 5)
    blobs_before = mj.get_store().counts()["blobs"]
    again = mj.datasets.add(df.copy(), name="churn")
    assert again.ref == "churn@v1" and not again.created
    assert mj.get_store().counts()["blobs"] == blobs_before
    v2 = mj.datasets.add(frame(60, seed=1), name="churn")
    assert v2.ref == "churn@v2" and v2.parent_version == 1
    assert mj.datasets.get("churn").ref == "churn@v2"
    assert mj.datasets.get("churn@latest").ref == "churn@v2"
    assert mj.datasets.get(f"churn@{v1.digest[:8]}").ref == "churn@v1"
    assert mj.datasets.get("churn@v1").description == "first pull"
    assert mj.datasets.get("churn@v1").creator
    listing = mj.datasets.list()
    assert listing.loc[0, "name"] == "churn" and listing.loc[0, "versions"] == 2
    assert list(mj.datasets.list("churn")["ref"]) == ["churn@v1", "churn@v2"]


def test_same_data_under_another_name_reuses_the_blob(mlops_home: Path) -> None:
    df = frame()
    a = mj.datasets.add(df, name="a")
    b = mj.datasets.add(df, name="b")
    assert a.blob == b.blob and b.ref == "b@v1"


def test_load_roundtrips_dtypes_and_values(mlops_home: Path) -> None:
    df = frame()
    df["cat"] = pd.Categorical(df["city"])
    df["n"] = pd.array([None if i % 7 == 0 else i for i in range(len(df))], dtype="Int64")
    v = mj.datasets.add(df, name="rt")
    back = mj.datasets.load("rt@v1")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert isinstance(back["cat"].dtype, pd.CategoricalDtype)
    assert str(back["n"].dtype) == "Int64"
    assert mj.datasets.add(back, name="rt").ref == v.ref  # what load returns re-adds as the same


def test_named_index_is_kept(mlops_home: Path) -> None:
    df = frame().set_index("id")
    mj.datasets.add(df, name="indexed")
    back = mj.datasets.load("indexed")
    assert back.index.name == "id"
    pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_unnamed_label_index_is_dropped_with_one_warning(mlops_home: Path) -> None:
    import warnings

    df = frame().drop(columns="signup")
    dated = df.set_axis(pd.date_range("2024-01-01", periods=len(df), freq="h"))
    with pytest.warns(UserWarning, match="unnamed DatetimeIndex was not versioned") as rec:
        v = mj.datasets.add(dated, name="ts")
    mine = [w for w in rec if "was not versioned" in str(w.message)]
    assert len(mine) == 1 and mine[0].filename == __file__  # points at the caller
    assert "rename_axis" in str(mine[0].message) and "reset_index" in str(mine[0].message)
    shifted = df.set_axis(pd.date_range("2025-06-01", periods=len(df), freq="D"))
    with pytest.warns(UserWarning, match="same values under another index"):
        assert mj.datasets.add(shifted, name="ts").ref == v.ref
    with warnings.catch_warnings():  # no warning: named, default, or integer leftovers
        warnings.simplefilter("error")
        mj.datasets.add(dated.rename_axis("when"), name="ts2")
        mj.datasets.add(df, name="plain")
        mj.datasets.add(df[df["id"] % 2 == 0], name="filtered")
        mj.datasets.add(dated.reset_index(drop=True), name="plain")


def test_dataset_names_differing_only_in_case_are_refused(mlops_home: Path, tmp_path: Path) -> None:
    mj.datasets.add(frame(), name="churn")
    with pytest.raises(InvalidNameError, match="differs only in letter case.*'churn'"):
        mj.datasets.add(frame(60, seed=1), name="CHURN")
    f = tmp_path / "d.csv"
    frame().to_csv(f, index=False)
    with pytest.raises(InvalidNameError, match="'churn'"):
        mj.datasets.add(f, name="Churn")
    assert list(mj.datasets.list()["name"]) == ["churn"]
    assert mj.datasets.add(frame(60, seed=1), name="churn").ref == "churn@v2"


def test_schema_and_profile_recorded(mlops_home: Path) -> None:
    df = frame()
    df.loc[2, "amount"] = np.nan
    v = mj.datasets.add(df, name="p")
    cols = {c["name"]: c for c in v.schema["columns"]}
    assert cols["amount"]["nullable"] and not cols["id"]["nullable"]
    assert cols["city"]["categories"] == ["lyon", "nice", "paris"]
    assert (cols["id"]["min"], cols["id"]["max"]) == (0, 49)
    prof = {c["name"]: c for c in v.profile["columns"]}
    assert prof["amount"]["nulls"] == 1
    assert sum(prof["amount"]["histogram"]["counts"]) == 49
    assert prof["city"]["n_unique"] == 3
    html = v._repr_html_()
    assert "<svg" in html and "amount" in html and "p@v1" in html


def test_display_escapes_user_text(mlops_home: Path) -> None:
    df = pd.DataFrame({"<b>x</b>": ["<script>alert(1)</script>", "ok"]})
    v = mj.datasets.add(df, name="xss", description="<img src=x onerror=alert(1)>")
    html = v._repr_html_()
    assert "<script>" not in html and "<img" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;" in html


# -- files and folders --------------------------------------------------------------
def test_file_versions_cache_and_checkout(mlops_home: Path, tmp_path: Path) -> None:
    f = tmp_path / "data.csv"
    frame().to_csv(f, index=False)
    v = mj.datasets.add(f, name="raw")
    assert v.kind == "file" and v.rows == 50 and v.schema is not None
    calls = []
    orig = hashing.hash_path
    hashing.hash_path = lambda *a, **k: calls.append(a) or orig(*a, **k)  # type: ignore[assignment]
    try:
        again = mj.datasets.add(f, name="raw")
    finally:
        hashing.hash_path = orig  # type: ignore[assignment]
    assert again.ref == "raw@v1" and not again.created and calls == []  # not re-read
    path = mj.datasets.load("raw")
    assert isinstance(path, Path) and path.name == "data.csv" and path.read_bytes() == f.read_bytes()
    assert mj.datasets.load("raw", as_frame=True).shape == (50, 5)
    with open(f, "a") as fh:
        fh.write("50,1.0,paris,False,2024-03-01\n")
    v2 = mj.datasets.add(f, name="raw")
    assert v2.ref == "raw@v2" and v2.rows == 51


def test_binary_file_without_profile(mlops_home: Path, tmp_path: Path) -> None:
    f = tmp_path / "weights.bin"
    f.write_bytes(os.urandom(4096))
    v = mj.datasets.add(f, name="weights")
    assert v.schema is None and v.size == 4096
    assert mj.datasets.load(v).read_bytes() == f.read_bytes()


def test_folder_versions(mlops_home: Path, tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("b")
    (root / "link.txt").symlink_to(root / "a.txt")
    v = mj.datasets.add(root, name="imgs")
    assert v.kind == "folder" and v.profile["files"] == 3
    assert mj.datasets.add(root, name="imgs").ref == "imgs@v1"
    out = mj.datasets.load("imgs")
    assert (out / "sub" / "b.txt").read_text() == "b" and (out / "link.txt").read_text() == "a"
    (root / "c.txt").write_text("c")
    v2 = mj.datasets.add(root, name="imgs")
    d = mj.datasets.diff(v, v2)
    assert list(d.files["path"]) == ["c.txt"] and list(d.files["change"]) == ["added"]


def test_corrupt_blob_is_refused(mlops_home: Path, tmp_path: Path) -> None:
    v = mj.datasets.add(frame(), name="c")
    path = mj.get_store().blobs.local_path(v.blob)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        mj.datasets.load("c")
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 100)
    fv = mj.datasets.add(f, name="f")
    checkout = mj.datasets.load(fv)
    checkout.chmod(0o644)
    checkout.write_bytes(b"tampered")
    assert mj.datasets.load(fv).read_bytes() == b"x" * 100  # re-verified, re-materialised


# -- bad input ----------------------------------------------------------------------
def test_bad_inputs_each_get_one_clear_error(mlops_home: Path, tmp_path: Path) -> None:
    df = frame()
    cases = [
        (lambda: mj.datasets.add(tmp_path / "missing.csv", name="x"), UsageError, "no such file"),
        (lambda: mj.datasets.add([1, 2, 3], name="x"), UsageError, "cannot version an object of type builtins.list"),
        (lambda: mj.datasets.add(df["id"], name="x"), UsageError, "to_frame"),
        (lambda: mj.datasets.add(df, name="bad name!"), InvalidNameError, "invalid dataset name"),
        (lambda: mj.datasets.add(df, name="../etc"), InvalidNameError, "invalid dataset name"),
        (lambda: mj.datasets.add(df.iloc[:0], name="x"), UsageError, "empty"),
        (lambda: mj.datasets.add(pd.DataFrame(index=range(3)), name="x"), UsageError, "no columns"),
        (lambda: mj.datasets.add(pd.DataFrame([[1, 2]], columns=["a", "a"]), name="x"), UsageError, "duplicate column names: 'a'"),
        (lambda: mj.datasets.add(pd.DataFrame({"m": [1, "two", 3.0]}), name="x"), UsageError, "mixes value types"),
        (lambda: mj.datasets.add(df, name="x", key="nope"), UsageError, "key column"),
        (lambda: mj.datasets.add(pd.concat([df, df]), name="x", key="id"), UsageError, "does not identify rows"),
        (lambda: mj.datasets.get("nothing"), NotFoundError, "no dataset named 'nothing'"),
        (lambda: mj.datasets.get("x@v1"), NotFoundError, "no dataset named"),
    ]
    for fn, exc, text in cases:
        with pytest.raises(exc, match=text.replace("(", r"\(").replace(")", r"\)")):
            fn()
    assert mj.get_store().counts()["dataset_versions"] == 0  # nothing changed


def test_unknown_version_names_what_exists(mlops_home: Path) -> None:
    mj.datasets.add(frame(), name="known")
    with pytest.raises(NotFoundError, match=r"versions: v1 \("):
        mj.datasets.get("known@v7")
    with pytest.raises(NotFoundError, match="datasets: known"):
        mj.datasets.get("unknown")
    with pytest.raises(NotFoundError):
        mj.datasets.get("known@abcdef0")


def test_ambiguous_hash_prefix(mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digests = iter(["abcdef01" + "0" * 56, "abcdef02" + "0" * 56])
    monkeypatch.setattr(hashing, "frame_digest", lambda df, table=None: next(digests))
    monkeypatch.setattr(hashing, "fast_frame_digest", lambda df: next(digests))
    mj.datasets.add(frame(), name="amb")
    mj.datasets.add(frame(9, seed=3), name="amb")
    with pytest.raises(AmbiguousReferenceError, match="ambiguous"):
        mj.datasets.get("amb@abcdef")
    assert mj.datasets.get("amb@abcdef02").version == 2


def test_special_files_and_escaping_symlinks(mlops_home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="FIFO"):
        mj.datasets.add(fifo, name="x")
    folder = tmp_path / "withpipe"
    folder.mkdir()
    os.mkfifo(folder / "p")
    with pytest.raises(UsageError, match="FIFO"):
        mj.datasets.add(folder, name="x")
    sock_dir = tmp_path / "withsock"
    sock_dir.mkdir()
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock_dir / "s"))
        with pytest.raises(UsageError, match="socket"):
            mj.datasets.add(sock_dir, name="x")
    finally:
        s.close()
    with pytest.raises(UsageError, match="device"):
        mj.datasets.add("/dev/null", name="x")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "ok.txt").write_text("ok")
    (leaky / "steal").symlink_to(outside)
    with pytest.raises(UsageError, match="points outside the folder"):
        mj.datasets.add(leaky, name="x")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no files"):
        mj.datasets.add(empty, name="x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(mlops_home: Path, tmp_path: Path) -> None:
    f = tmp_path / "locked.csv"
    f.write_text("a\n1\n")
    f.chmod(0)
    with pytest.raises(UsageError, match="permission denied"):
        mj.datasets.add(f, name="x")


def test_public_surface_and_panel(mlops_home: Path) -> None:
    import ipywidgets

    for name in mj.datasets.__all__:
        assert getattr(mj.datasets, name) is not None, name
    assert mj.datasets.list is mj.datasets.list_datasets
    v = mj.datasets.add(frame(), name="panel")
    panel = mj.datasets.show("panel").panel()
    assert isinstance(panel, ipywidgets.VBox)
    tab = panel.children[1]
    assert [tab.get_title(i) for i in range(len(tab.children))] == ["Overview", "Schema", "Columns"]
    assert v.ref in repr(v) and str(v) == "panel@v1"


def test_progress_bar_on_request(mlops_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "big.bin"
    f.write_bytes(os.urandom(20 << 20))  # above the slice size: the mapped path
    expected = hashing.hash_path(f, progress=False)
    assert hashing.hash_path(f, progress=True) == expected
    assert "hashing big.bin" in capsys.readouterr().err
    from mlops_jupyter.store.artifacts import hash_file

    assert expected == hash_file(f)  # the same digest the blob store uses
    v = mj.datasets.add(f, name="big", progress=True)
    assert v.digest == expected


def test_unreadable_path_message(mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_jupyter.datasets import ingest

    f = tmp_path / "locked.csv"
    f.write_text("a\n1\n")
    monkeypatch.setattr(ingest.os, "access", lambda *a, **k: False)  # as a non-root user sees it
    with pytest.raises(UsageError, match="cannot read .*permission denied"):
        mj.datasets.add(f, name="x")
    with pytest.raises(UsageError, match="cannot read folder"):
        mj.datasets.add(tmp_path, name="x")


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: pd.DataFrame({"a": rng.normal(size=500), "b": rng.integers(0, 9, 500)}),
        lambda rng: pd.DataFrame({"f": np.where(rng.random(300) < 0.2, np.nan, rng.normal(size=300))}),
        lambda rng: pd.DataFrame({"x": rng.random(50).astype("float32"), "u": rng.integers(0, 3, 50).astype("uint8"),
                                  "flag": rng.random(50) < 0.5, "neg0": np.zeros(50) * -1.0}),
        lambda rng: pd.DataFrame({0: [1.0, np.nan], 1: [np.nan, np.nan]}),
        lambda rng: pd.DataFrame({"a": np.arange(10)}, index=np.arange(10)[::-1]),
        lambda rng: pd.DataFrame({
            "f": rng.normal(size=40), "s": rng.choice(["x", "y", None], size=40),
            "c": pd.Categorical(rng.choice(["lo", "hi"], size=40)), "i": rng.integers(0, 5, 40),
            "n": pd.array(rng.choice([1, None], size=40), dtype="Int64"),
            "t": pd.date_range("2026-01-01", periods=40, freq="h", tz="UTC"),
            "obj": rng.choice(["p", "q"], size=40).astype(object),
        }),
    ],
)
def test_fast_path_gives_the_full_arrow_digest(make) -> None:  # type: ignore[no-untyped-def]
    from mlops_jupyter.datasets import hashing

    df = make(np.random.default_rng(7))
    fast = hashing.fast_frame_digest(df)
    assert fast is not None and fast == hashing.frame_digest(df)


def test_named_index_takes_the_full_path() -> None:
    from mlops_jupyter.datasets import hashing

    df = pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]}).set_index("a")
    assert hashing.fast_frame_digest(df) is None


def test_nested_values_get_their_own_message(mlops_home: Path) -> None:
    df = pd.DataFrame({"lst": [[1, 2], [3]], "d": [{"a": 1}, {"b": 2}]})
    with pytest.raises(UsageError, match="nested values .*json.dumps"):
        mj.datasets.add(df, name="nested")


def test_non_text_column_names_are_announced(mlops_home: Path) -> None:
    with pytest.warns(UserWarning, match="stored as text: 0 -> '0'"):
        v = mj.datasets.add(pd.DataFrame({0: [1.0, 2.0], 1: [3.0, 4.0]}), name="intcols")
    assert list(mj.datasets.load(v.ref).columns) == ["0", "1"]


# -- Arrow IPC storage (feature materialisations) -------------------------------------
def test_arrow_storage_round_trips_and_is_verified(mlops_home: Path) -> None:
    from mlops_jupyter.datasets.api import read_table

    df = frame(200).assign(
        when=pd.date_range("2024-01-01", periods=200, freq="h", tz="Europe/Paris"),
        cat=pd.Categorical(np.where(np.arange(200) % 3 == 0, "a", "b")),
        maybe=np.where(np.arange(200) % 7 == 0, np.nan, 1.5),
    ).set_index(pd.Index(np.arange(200) * 2, name="row"))
    v = mj.datasets.add(df, name="arrowed", storage="arrow")
    path = mj.get_store().blobs.local_path(v.blob)
    assert path.read_bytes()[:6] == b"ARROW1"
    back = mj.datasets.load(v)
    pd.testing.assert_frame_equal(back, df)
    assert hashing.frame_digest(back) == v.digest
    # the same data as Parquet under the same name is the same version (digest of values)
    assert mj.datasets.add(df, name="arrowed").ref == v.ref
    assert read_table(v, ["amount", "id"]).column_names == ["amount", "id"]
    with pytest.raises(UsageError, match="no column"):
        read_table(v, ["nope"])
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        mj.datasets.load(v)
    with pytest.raises(IntegrityError):
        read_table(v, ["id"])
    with pytest.raises(UsageError, match="storage must be one of parquet, arrow"):
        mj.datasets.add(df, name="x", storage="csv")


def test_parquet_read_table_names_a_missing_column(mlops_home: Path) -> None:
    """Failed before (review): a raw pyarrow ArrowInvalid instead of the Arrow path's message."""
    from mlops_jupyter.datasets.api import read_table

    v = mj.datasets.add(frame(20), name="pq")
    assert read_table(v, ["id"]).num_rows == 20
    with pytest.raises(UsageError, match=r"pq@v1 has no column\(s\) \['nope'\]; columns: .*'id'"):
        read_table(v, ["id", "nope"])


def test_arrow_storage_compresses_only_what_pays(mlops_home: Path) -> None:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from mlops_jupyter.datasets.api import read_table

    n = 100_000
    rng = np.random.default_rng(1)
    noisy = pd.DataFrame({"k": np.arange(n), "x": rng.random(n)})
    counts = pd.DataFrame({"k": np.arange(n) // 1000, "c": np.arange(n) % 5, "s": ["ab"] * n})
    st = mj.get_store()
    for df, name, codec in ((noisy, "noisy", b"none"), (counts, "counts", b"lz4")):
        v = mj.datasets.add(df, name=name, storage="arrow")
        raw = st.blobs.local_path(v.blob).read_bytes()
        assert ipc.open_file(pa.py_buffer(raw)).metadata[b"mlops.compression"] == codec
        pd.testing.assert_frame_equal(mj.datasets.load(v), df)
        assert read_table(v, [df.columns[1]]).column(0).to_pylist()[:3] == df.iloc[:3, 1].tolist()


def test_missing_frame_blob_says_so(mlops_home: Path) -> None:
    for storage in ("parquet", "arrow"):
        v = mj.datasets.add(frame(seed=3 if storage == "arrow" else 4), name=f"gone-{storage}", storage=storage)
        mj.get_store().blobs.local_path(v.blob).unlink()
        with pytest.raises(NotFoundError, match="missing from the artifact store.*doctor --verify"):
            mj.datasets.load(v)
