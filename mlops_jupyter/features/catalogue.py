"""The feature catalogue: every applied view's features with type, description, owner,
freshness, statistics and the models trained on them; searchable.

Its notebook display is static, escaped HTML (it survives saving, nbconvert and a
closed kernel); in a live kernel a search box (the only widget) re-renders that same
HTML output in place through a display id, so nothing depends on saved widget state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_jupyter.features import repository as repo

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["view", "feature", "type", "description", "version", "owner", "entity", "source",
           "applied", "materialized", "rows", "missing", "mean", "models"]


def catalogue_frame() -> pd.DataFrame:
    """One row per feature of each view's latest definition."""
    import pandas as pd

    st = repo._store()
    defs = st.feature_definitions()
    latest: dict[str, Any] = {}
    for d in defs:
        latest[d.view] = d
    used: dict[tuple[str, str], set[str]] = {}
    for u in st.models_using_features():
        used.setdefault((u["view"], u["feature"]), set()).add(f"{u['model']}@v{u['model_version']}")
    rows = []
    for view, d in sorted(latest.items()):
        mats = st.list_materializations(d.id)
        mat = mats[-1] if mats else None
        prof = None
        if mat is not None:
            dv = st.get_dataset_version_by_id(mat.dataset_version_id)
            prof = (dv.profile or {}).get("columns") if isinstance(dv.profile, dict) else None
        for f in d.spec["features"]:
            stats = _stats(prof, f["name"])
            rows.append({
                "view": view, "feature": f["name"], "type": f["type"],
                "description": f["description"], "version": d.version, "owner": d.owner,
                "entity": d.spec["entity"], "source": d.spec["source"],
                "applied": pd.to_datetime(d.created_at, unit="s"),
                "materialized": None if mat is None else pd.to_datetime(mat.created_at, unit="s"),
                "rows": None if mat is None else mat.rows,
                "missing": stats.get("missing"), "mean": stats.get("mean"),
                "models": ", ".join(sorted(used.get((view, f["name"]), ()))),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def _stats(prof: Any, name: str) -> dict[str, Any]:
    """Missing share and mean, read from the materialised dataset's stored profile."""
    col = next((c for c in prof or () if isinstance(c, dict) and c.get("name") == name), None)
    if col is None:
        return {}
    out = {}
    if isinstance(col.get("null_fraction"), int | float):
        out["missing"] = round(float(col["null_fraction"]), 4)
    if isinstance(col.get("mean"), int | float):
        out["mean"] = round(float(col["mean"]), 6)
    return out


@dataclass
class Catalogue:
    """The catalogue, optionally filtered by ``search`` (case-insensitive, any column)."""

    frame: pd.DataFrame
    search: str | None = None

    def filtered(self, search: str | None = None) -> pd.DataFrame:
        q = (self.search if search is None else search) or ""
        q = q.strip().lower()
        if not q:
            return self.frame
        text = self.frame[["view", "feature", "type", "description", "owner", "source", "models"]]
        mask = text.astype(str).apply(lambda c: c.str.lower().str.contains(q, regex=False)).any(axis=1)
        return self.frame[mask]

    def to_frame(self) -> pd.DataFrame:
        return self.filtered().reset_index(drop=True)

    def html(self, search: str | None = None) -> str:
        from mlops_jupyter.display.html import esc, fmt_value

        df = self.filtered(search)
        now = time.time()
        body = []
        for r in df.itertuples(index=False):
            fresh = "never" if r.materialized is None or r.materialized != r.materialized else _age(
                now - r.materialized.timestamp())
            stats = "" if r.mean is None or r.mean != r.mean else f"mean {fmt_value(r.mean)}"
            if r.missing is not None and r.missing == r.missing:
                stats += f"{', ' if stats else ''}missing {r.missing:.1%}"
            body.append(
                "<tr>" + "".join(f"<td>{esc(v)}</td>" for v in (
                    r.view, r.feature, r.type, r.description, f"v{r.version}", r.owner or "",
                    f"{r.entity} · {r.source}", fresh, stats, r.models or "—",
                )) + "</tr>"
            )
        q = (self.search if search is None else search) or ""
        head = (f"<b>Feature catalogue</b>: {len(df)} of {len(self.frame)} feature(s)"
                + (f" matching “{esc(q)}”" if q else ""))
        cols = ["view", "feature", "type", "description", "version", "owner", "entity · source",
                "materialised", "statistics", "models"]
        return (f"<div class='mlops-features'><p>{head}</p><table><thead><tr>"
                + "".join(f"<th>{c}</th>" for c in cols) + "</tr></thead><tbody>"
                + "".join(body) + "</tbody></table></div>")

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        return self.to_frame().to_string(index=False)

    def show(self) -> None:
        """Display the static table and, in a live kernel, a search box updating it."""
        from IPython.display import HTML, display

        handle = display(HTML(self.html()), display_id=True)
        try:
            import ipywidgets as w
        except ImportError:  # pragma: no cover - a dependency
            return
        box = w.Text(value=self.search or "", placeholder="search views, features, owners, models…",
                     description="search")

        def on_change(change: dict[str, Any]) -> None:
            handle.update(HTML(self.html(change["new"])))

        box.observe(on_change, names="value")
        display(box)


def catalogue(search: str | None = None) -> Catalogue:
    """The feature catalogue (``%mlops features``): display it, or ``.to_frame()``."""
    return Catalogue(catalogue_frame(), search)


def _age(seconds: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= n:
            return f"{int(seconds // n)} {unit} ago"
    return "just now"
