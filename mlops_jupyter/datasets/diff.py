"""How two versions differ: schema, row count, statistics, and which rows changed.

Rows are matched by the key columns (given here, else the ones recorded when the
newer version was added): rows whose key appears only in one version are added or
removed, rows with the same key and other values are changed. Without a key, rows are
compared as whole-row hashes (a multiset, so duplicates count): a modified row shows
as one removed and one added. Files compare by content; folders by their manifests
(files added, removed, changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_jupyter.datasets.profile import column_profiles
from mlops_jupyter.datasets.version import DatasetVersion
from mlops_jupyter.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

#: statistics compared per column (those present in both profiles)
STATS = ("null_fraction", "mean", "std", "min", "max", "n_unique")
ROW_EXAMPLES = 5


@dataclass
class DatasetDiff:
    """The differences between version ``a`` (older) and ``b`` (newer)."""

    a: DatasetVersion
    b: DatasetVersion
    schema_changes: pd.DataFrame  # column, change, before, after
    stats: pd.DataFrame  # column, statistic, before, after, change
    rows_before: int | None
    rows_after: int | None
    key: list[str] = field(default_factory=list)
    rows_added: int | None = None
    rows_removed: int | None = None
    rows_changed: int | None = None
    added_examples: pd.DataFrame | None = None
    removed_examples: pd.DataFrame | None = None
    files: pd.DataFrame | None = None  # folders: path, change, size_before, size_after

    @property
    def identical(self) -> bool:
        return self.a.digest == self.b.digest

    def summary(self) -> str:
        if self.identical:
            return f"{self.a.ref} and {self.b.ref} hold identical data"
        parts = []
        if len(self.schema_changes):
            parts.append(f"{len(self.schema_changes)} schema change(s)")
        if self.rows_before is not None and self.rows_after is not None:
            parts.append(f"rows {self.rows_before} -> {self.rows_after}")
        if self.rows_added is not None:
            parts.append(f"+{self.rows_added} / -{self.rows_removed} rows"
                         + (f", {self.rows_changed} changed" if self.rows_changed is not None else ""))
        if self.files is not None:
            parts.append(f"{len(self.files)} file change(s)")
        return f"{self.a.ref} -> {self.b.ref}: " + ("; ".join(parts) or "content differs")

    def _repr_html_(self) -> str:
        from mlops_jupyter.datasets.display import diff_html

        return diff_html(self)

    def __repr__(self) -> str:
        return f"<DatasetDiff {self.summary()}>"


def diff(
    a: str | DatasetVersion, b: str | DatasetVersion, key: str | list[str] | None = None,
    *, rows: bool = True,
) -> DatasetDiff:
    """Compare two versions (``diff("churn@v1", "churn@v2")``). ``rows=False`` skips
    loading the data and compares only schema, counts and statistics."""
    from mlops_jupyter.datasets.api import get

    va, vb = get(a), get(b)
    keys = [key] if isinstance(key, str) else list(key or vb.key or va.key)
    out = DatasetDiff(
        a=va, b=vb, schema_changes=_schema_changes(va, vb), stats=_stat_changes(va, vb),
        rows_before=va.rows, rows_after=vb.rows, key=keys,
    )
    if va.kind == "folder" and vb.kind == "folder":
        out.files = _folder_changes(va, vb)
        return out
    if not rows or out.identical or not (va.schema and vb.schema):
        if out.identical:
            out.rows_added = out.rows_removed = 0
            out.rows_changed = 0 if keys else None
        return out
    from mlops_jupyter.datasets.api import load

    da, db = _as_frame(load(va, as_frame=True)), _as_frame(load(vb, as_frame=True))
    if keys:
        missing = [k for k in keys if k not in da.columns or k not in db.columns]
        if missing:
            raise UsageError(f"key column(s) {missing} are not in both versions")
        _by_key(out, da, db, keys)
    else:
        _by_hash(out, da, db)
    return out


def _as_frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.reset_index() if any(n is not None for n in df.index.names) else df


def _schema_changes(va: DatasetVersion, vb: DatasetVersion) -> pd.DataFrame:
    import pandas as pd

    ca = {c["name"]: c for c in (va.schema or {}).get("columns", [])}
    cb = {c["name"]: c for c in (vb.schema or {}).get("columns", [])}
    rows: list[dict[str, Any]] = []
    for n in cb:
        if n not in ca:
            rows.append({"column": n, "change": "added", "before": None, "after": cb[n]["dtype"]})
    for n in ca:
        if n not in cb:
            rows.append({"column": n, "change": "removed", "before": ca[n]["dtype"], "after": None})
            continue
        x, y = ca[n], cb[n]
        if x["dtype"] != y["dtype"]:
            rows.append({"column": n, "change": "dtype", "before": x["dtype"], "after": y["dtype"]})
        if x.get("nullable") != y.get("nullable"):
            rows.append({"column": n, "change": "nullable", "before": x.get("nullable"), "after": y.get("nullable")})
        if x.get("categories") is not None and y.get("categories") is not None:
            new = sorted(set(map(str, y["categories"])) - set(map(str, x["categories"])))
            gone = sorted(set(map(str, x["categories"])) - set(map(str, y["categories"])))
            if new or gone:
                rows.append({"column": n, "change": "categories",
                             "before": f"-{len(gone)}: {', '.join(gone[:5])}" if gone else "",
                             "after": f"+{len(new)}: {', '.join(new[:5])}" if new else ""})
    return pd.DataFrame(rows, columns=["column", "change", "before", "after"])


def _stat_changes(va: DatasetVersion, vb: DatasetVersion) -> pd.DataFrame:
    import pandas as pd

    pa_, pb = column_profiles(va.profile), column_profiles(vb.profile)
    rows = []
    for n, x in pa_.items():
        y = pb.get(n)
        if y is None:
            continue
        for stat in STATS:
            before, after = x.get(stat), y.get(stat)
            if before is None and after is None or before == after:
                continue
            if not isinstance(before, int | float) or not isinstance(after, int | float):
                continue
            change = (after - before) / abs(before) if before else None
            rows.append({"column": n, "statistic": stat, "before": before, "after": after,
                         "change": change})
    return pd.DataFrame(rows, columns=["column", "statistic", "before", "after", "change"])


def _row_hashes(df: pd.DataFrame) -> pd.Series:
    import pandas as pd

    return pd.util.hash_pandas_object(df, index=False)


def _by_hash(out: DatasetDiff, da: pd.DataFrame, db: pd.DataFrame) -> None:
    import pandas as pd

    common = [c for c in da.columns if c in set(db.columns)]
    if list(da.columns) != list(db.columns) and common:  # compare on the shared columns
        ha, hb = _row_hashes(da[common]), _row_hashes(db[common])
    else:
        ha, hb = _row_hashes(da), _row_hashes(db)
    ca, cb = ha.value_counts(), hb.value_counts()
    both = pd.concat([ca.rename("a"), cb.rename("b")], axis=1).fillna(0)
    added = (both["b"] - both["a"]).clip(lower=0)
    removed = (both["a"] - both["b"]).clip(lower=0)
    out.rows_added, out.rows_removed = int(added.sum()), int(removed.sum())
    added_h = set(added[added > 0].index)
    removed_h = set(removed[removed > 0].index)
    out.added_examples = db[hb.isin(added_h).to_numpy()].head(ROW_EXAMPLES)
    out.removed_examples = da[ha.isin(removed_h).to_numpy()].head(ROW_EXAMPLES)


def _by_key(out: DatasetDiff, da: pd.DataFrame, db: pd.DataFrame, keys: list[str]) -> None:
    import pandas as pd

    ka = pd.MultiIndex.from_frame(da[keys].astype(object))
    kb = pd.MultiIndex.from_frame(db[keys].astype(object))
    in_b = ka.isin(kb)
    in_a = kb.isin(ka)
    out.rows_removed = int((~in_b).sum())
    out.rows_added = int((~in_a).sum())
    out.removed_examples = da[~in_b].head(ROW_EXAMPLES)
    out.added_examples = db[~in_a].head(ROW_EXAMPLES)
    common = [c for c in da.columns if c in set(db.columns) and c not in keys]
    if not common:
        out.rows_changed = 0
        return
    sa = da[in_b].set_index(keys)[common]
    sb = db[in_a].set_index(keys)[common]
    sb = sb.reindex(sa.index)
    ha = pd.util.hash_pandas_object(sa.astype(object), index=False).to_numpy()
    hb = pd.util.hash_pandas_object(sb.astype(object), index=False).to_numpy()
    out.rows_changed = int((ha != hb).sum())


def _folder_changes(va: DatasetVersion, vb: DatasetVersion) -> pd.DataFrame:
    import pandas as pd

    from mlops_jupyter.datasets.api import _store
    from mlops_jupyter.store.manifest import parse_manifest

    st = _store()
    fa = {p: (s, d) for p, s, d in parse_manifest(st.read_blob(va.blob))}
    fb = {p: (s, d) for p, s, d in parse_manifest(st.read_blob(vb.blob))}
    rows = []
    for p in sorted(set(fa) | set(fb)):
        x, y = fa.get(p), fb.get(p)
        if x == y:
            continue
        change = "added" if x is None else "removed" if y is None else "changed"
        rows.append({"path": p, "change": change, "size_before": x[0] if x else None,
                     "size_after": y[0] if y else None})
    return pd.DataFrame(rows, columns=["path", "change", "size_before", "size_after"])
