"""Registering definitions (``apply``) and materialising views over source versions.

``apply`` loads the project's ``features/*.py`` (running their code: see
:mod:`loader`) and records every view whose code or spec changed as a new numbered
definition version, with owner and time. ``materialize`` computes the latest
definition over a source dataset version and stores the result as a content-addressed
dataset version (``features.VIEW``), linked to both; it is reused while neither the
definition nor the source version changes. A changed definition is a new version
whose materialisations start empty, so only that view is recomputed.
"""

from __future__ import annotations

import getpass
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_jupyter.errors import UsageError
from mlops_jupyter.features import loader
from mlops_jupyter.features.definition import FeatureView
from mlops_jupyter.features.pit import SortedFeatures, from_arrays, sort_features

if TYPE_CHECKING:
    import pandas as pd

    from mlops_jupyter.store.sql.features import FeatureDefinitionRecord

DATASET_PREFIX = "features."


def _store() -> Any:
    from mlops_jupyter.tracking import session

    return session.get_store()


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return os.environ.get("USER")


# -- apply ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    view: str
    status: str  # new | changed | unchanged | missing
    version: int | None
    previous: int | None = None
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` found: one :class:`Change` per view (views whose file is gone are
    reported as ``missing`` and kept, so models trained on them still resolve)."""

    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.status in ("new", "changed")]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [{"view": c.view, "status": c.status, "version": c.version, "previous": c.previous,
              "details": "; ".join(c.details)} for c in self.changes],
            columns=["view", "status", "version", "previous", "details"],
        )

    def __str__(self) -> str:
        if not self.changes:
            return "no feature views found (add definitions under features/*.py)"
        lines = []
        for c in self.changes:
            ver = f"v{c.version}" if c.version else ""
            prev = f" (was v{c.previous})" if c.previous else ""
            lines.append(f"{c.status:9} {c.view} {ver}{prev}")
            lines += [f"          - {d}" for d in c.details]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from mlops_jupyter.display.html import esc

        rows = "".join(
            f"<tr><td>{esc(c.status)}</td><td>{esc(c.view)}</td>"
            f"<td>{esc(f'v{c.version}' if c.version else '')}</td>"
            f"<td>{esc(f'v{c.previous}' if c.previous else '')}</td>"
            f"<td>{'<br>'.join(esc(d) for d in c.details)}</td></tr>"
            for c in self.changes
        )
        return ("<table><thead><tr><th>status</th><th>view</th><th>version</th><th>was</th>"
                f"<th>what changed</th></tr></thead><tbody>{rows}</tbody></table>")


def apply(root: str | os.PathLike[str] | None = None) -> ApplyResult:
    """Register the project's changed feature views; return what changed.

    Loading ``features/*.py`` **executes that code** (only files inside the project's
    ``features/`` folder are ever loaded).
    """
    st = _store()
    views = loader.load_views(loader.project_root(root))
    known = {d.view for d in st.feature_definitions()}
    changes = []
    user = _user()
    for name in sorted(views):
        v = views[name]
        prev = _latest(st, name)
        rec, created = st.register_feature_definition(
            name, digest=v.digest(), spec=v.spec(), code=v.code(), path=v.path, owner=user,
        )
        if not created:
            changes.append(Change(name, "unchanged", rec.version))
        elif prev is None:
            changes.append(Change(name, "new", rec.version, details=(f"{len(v.features)} feature(s)",)))
        else:
            changes.append(Change(name, "changed", rec.version, prev.version, tuple(_diff(prev, rec))))
    for name in sorted(known - set(views)):
        last = st.feature_definition(name)
        changes.append(Change(name, "missing", last.version, details=("no definition in features/ any more",)))
    return ApplyResult(tuple(changes))


def _latest(st: Any, view: str) -> FeatureDefinitionRecord | None:
    defs = st.feature_definitions(view)
    return defs[-1] if defs else None


def _diff(old: FeatureDefinitionRecord, new: FeatureDefinitionRecord) -> list[str]:
    out = []
    of = {f["name"]: f for f in old.spec["features"]}
    nf = {f["name"]: f for f in new.spec["features"]}
    out += [f"feature added: {n}" for n in nf if n not in of]
    out += [f"feature removed: {n}" for n in of if n not in nf]
    for n in nf:
        if n in of and of[n]["type"] != nf[n]["type"]:
            out.append(f"feature {n}: type {of[n]['type']} -> {nf[n]['type']}")
        elif n in of and of[n]["description"] != nf[n]["description"]:
            out.append(f"feature {n}: description changed")
    for k in ("entity", "timestamp", "source", "ttl_seconds", "created"):
        if old.spec.get(k) != new.spec.get(k):
            out.append(f"{k}: {old.spec.get(k)!r} -> {new.spec.get(k)!r}")
    if old.code != new.code:
        out.append("code changed")
    return out or ["spec changed"]


# -- materialisation ------------------------------------------------------------------
@dataclass(frozen=True)
class Materialization:
    """A view (definition version) computed over one source dataset version."""

    view: str
    definition_version: int
    definition_id: str
    source: str  # dataset ref of the source version
    dataset: str  # dataset ref of the stored result
    dataset_version_id: str
    rows: int | None
    reused: bool
    id: str

    def __str__(self) -> str:
        how = "reused" if self.reused else "computed"
        return f"{self.view}@v{self.definition_version} over {self.source} -> {self.dataset} ({self.rows} rows, {how})"


def definition(view: str, version: int | None = None) -> FeatureDefinitionRecord:
    """An applied definition (default: the latest); unknown views name what exists."""
    from mlops_jupyter.names import entity_name

    return _store().feature_definition(entity_name(view, kind="feature view name"), version)


def materialize(
    view: str, *, source: str | None = None, version: int | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Materialization:
    """Compute ``view`` (its latest applied definition, or ``version``) over ``source``
    (a dataset ref; default: the latest version of the view's source dataset), or reuse
    the stored result when that pair was computed before."""
    from mlops_jupyter import datasets
    from mlops_jupyter.store.sql.datasets import FILE

    st = _store()
    d = definition(view, version)
    src = datasets.get(source or d.spec["source"])
    if src.name != d.spec["source"]:
        raise UsageError(f"feature view {d.view!r} reads dataset {d.spec['source']!r}, not {src.name!r}")
    found = st.find_materialization(d.id, src.id)
    if found is not None:
        if found.definition_id != d.id:  # same code applied again later: share the result
            found = st.record_materialization(d.id, src.id, found.dataset_version_id, found.rows or 0)
        return _result(st, d, src.ref, found, reused=True)
    fv = _code_for(d, root, src.ref)
    raw = datasets.load(src, as_frame=src.kind == FILE)
    out = compute(fv, raw)
    dv = datasets.add(
        out, name=DATASET_PREFIX + d.view,
        description=f"feature view {d.view} v{d.version} over {src.ref}",
        storage="arrow",  # read back in place by every cold join: no decoding
    )
    rec = st.record_materialization(d.id, src.id, dv.id, len(out))
    return _result(st, d, src.ref, rec, reused=False)


def _result(st: Any, d: Any, src_ref: str, rec: Any, reused: bool) -> Materialization:
    dv = st.get_dataset_version_by_id(rec.dataset_version_id)
    return Materialization(
        view=d.view, definition_version=d.version, definition_id=d.id, source=src_ref,
        dataset=f"{dv.name}@v{dv.version}", dataset_version_id=dv.id, rows=rec.rows,
        reused=reused, id=rec.id,
    )


def _code_for(d: FeatureDefinitionRecord, root: Any, src_ref: str) -> FeatureView:
    """The project's code for definition ``d``: refused when the file now differs (the
    stored result must be what that definition version computes)."""
    views = loader.load_views(loader.project_root(root))
    fv = views.get(d.view)
    if fv is None:
        raise UsageError(
            f"feature view {d.view!r} v{d.version} is not defined in features/ any more, and "
            f"was never materialised over {src_ref}"
        )
    if fv.digest() != d.digest:
        latest = _latest(_store(), d.view)
        if latest is not None and latest.version != d.version:
            raise UsageError(
                f"feature view {d.view!r} v{d.version} was never materialised over {src_ref}, "
                f"and features/ no longer holds its code: use the latest version (v{latest.version}) "
                "or a source version it was computed over"
            )
        raise UsageError(
            f"the code of feature view {d.view!r} differs from its applied version v{d.version}: "
            "run mj.features.apply() (or `mlops features apply`) first"
        )
    return fv


def compute(fv: FeatureView, raw: pd.DataFrame) -> pd.DataFrame:
    """Run the view's function and check its output: entity, timestamp and every declared
    feature present with its declared type; rows sorted for the as-of join."""
    import pandas as pd

    out = fv.fn(raw)
    if not isinstance(out, pd.DataFrame):
        raise UsageError(f"feature view {fv.name!r} returned {type(out).__name__}, not a DataFrame")
    wanted = [fv.entity, fv.timestamp] + ([fv.created] if fv.created else []) + fv.feature_names
    missing = [c for c in wanted if c not in out.columns]
    if missing:
        raise UsageError(
            f"feature view {fv.name!r} returned no column(s) {missing}; it returned: "
            f"{[str(c) for c in out.columns][:20]}"
        )
    out = out[wanted].copy()
    for f in fv.features:
        out[f.name] = _typed(out[f.name], f.dtype, f"{fv.name}:{f.name}")
    return sort_features(out, fv.entity, fv.timestamp, fv.created)


def _typed(s: pd.Series, dtype: str, what: str) -> pd.Series:
    import pandas as pd

    api = pd.api.types
    ok = {
        "float": api.is_numeric_dtype(s.dtype) and not api.is_bool_dtype(s.dtype),
        "int": api.is_integer_dtype(s.dtype) and not api.is_bool_dtype(s.dtype),
        "bool": api.is_bool_dtype(s.dtype),
        "str": api.is_string_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype),
        "datetime": api.is_datetime64_any_dtype(s.dtype),
    }[dtype]
    if not ok:
        raise UsageError(f"feature {what} is declared {dtype} but the view returned {s.dtype}")
    return s.astype("float64") if dtype == "float" else s


# -- reading materialisations (cached per process: serving and repeated joins) ---------
_CACHE: OrderedDict[str, SortedFeatures] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 4


def sorted_features(dataset_version_id: str, spec: dict[str, Any]) -> SortedFeatures:
    """A materialisation ready to join (read and verified once, then kept in memory)."""
    st = _store()
    dv = st.get_dataset_version_by_id(dataset_version_id)
    key = dv.digest
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    sf = _arrow_features(_read_table(dv, _join_columns(spec)), spec)
    with _CACHE_LOCK:
        _CACHE[key] = sf
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return sf


def _join_columns(spec: dict[str, Any]) -> list[str]:
    """What a join needs: key, time and every feature (not the tie-break column)."""
    return [spec["entity"], spec["timestamp"], *(f["name"] for f in spec["features"])]


def _read_table(dv: Any, columns: list[str] | None = None) -> Any:
    from mlops_jupyter.datasets.api import read_table

    return read_table(dv, columns)  # verified against its hash


def read_frame(dv: Any) -> pd.DataFrame:
    """A stored DataFrame version, verified against its hash (not recorded as a run input)."""
    return _read_table(dv).to_pandas()


def _arrow_features(table: Any, spec: dict[str, Any]) -> SortedFeatures:
    """Join arrays straight from Arrow: numbers without nulls as numpy (no DataFrame is
    built: converting 10M rows to pandas costs more than reading them)."""
    import pyarrow as pa

    def values(name: str) -> Any:
        col = table.column(name)
        t = col.type
        if pa.types.is_floating(t) or (pa.types.is_integer(t) and col.null_count == 0):
            return col.to_numpy()
        return col.to_pandas().array

    ts = table.column(spec["timestamp"])
    if not pa.types.is_timestamp(ts.type):
        raise UsageError(f"materialised column {spec['timestamp']!r} is not a time: materialise again")
    times = ts.cast(pa.timestamp("ns", tz=ts.type.tz)).cast(pa.int64()).to_numpy()
    keys = values(spec["entity"])
    keys = keys if isinstance(keys, np.ndarray) else keys.to_numpy()
    names = [f["name"] for f in spec["features"]]
    # sorted by compute() before it was stored, and verified by hash on read
    return from_arrays(keys, times, {n: values(n) for n in names}, check=False)


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
