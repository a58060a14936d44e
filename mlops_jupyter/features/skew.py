"""Training/serving skew check: for sampled keys, the values a server would use (looked
up, or computed from raw rows) against the offline point-in-time values at the latest
time, feature by feature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_jupyter.errors import UsageError
from mlops_jupyter.features import online
from mlops_jupyter.features import repository as repo

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SkewReport:
    model: str
    keys: int
    rows: tuple[dict[str, Any], ...]  # one per (path, feature)

    @property
    def ok(self) -> bool:
        return all(r["mismatched"] == 0 for r in self.rows)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=["path", "feature", "compared", "mismatched", "max_abs_diff"])

    def __str__(self) -> str:
        bad = [r for r in self.rows if r["mismatched"]]
        head = f"skew check of {self.model} on {self.keys} sampled key(s): " + (
            "no skew" if not bad else f"{len(bad)} feature path(s) differ")
        return "\n".join([head] + [
            f"  {r['path']}: {r['feature']} {r['mismatched']}/{r['compared']} differ "
            f"(max abs diff {r['max_abs_diff']})" for r in bad])

    def _repr_html_(self) -> str:
        from mlops_jupyter.display.html import esc

        rows = "".join(
            f"<tr><td>{esc(r['path'])}</td><td>{esc(r['feature'])}</td><td>{r['compared']}</td>"
            f"<td>{r['mismatched']}</td><td>{esc(r['max_abs_diff'])}</td></tr>" for r in self.rows)
        return (f"<p>{esc(str(self).splitlines()[0])}</p><table><thead><tr><th>path</th><th>feature</th>"
                f"<th>compared</th><th>differ</th><th>max abs diff</th></tr></thead><tbody>{rows}</tbody></table>")


def _compare(a: Any, b: Any, rtol: float) -> tuple[int, int, float | None]:
    import pandas as pd

    sa, sb = pd.Series(a).reset_index(drop=True), pd.Series(b).reset_index(drop=True)
    na, nb = sa.isna().to_numpy(), sb.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(sa.dtype) and pd.api.types.is_numeric_dtype(sb.dtype):
        x, y = sa.to_numpy(dtype=float), sb.to_numpy(dtype=float)
        both = ~na & ~nb
        close = np.zeros(len(x), dtype=bool)
        close[both] = np.isclose(x[both], y[both], rtol=rtol, atol=0.0)
        diff = float(np.max(np.abs(x[both] - y[both]))) if both.any() else None
    else:
        close, diff = (sa.astype(object) == sb.astype(object)).to_numpy(), None
    same = close | (na & nb)
    return len(sa), int((~same).sum()), diff


def skew_check(
    model: str, *, sample: int = 100, seed: int = 0, served: Any = None, raw: bool = True,
    rtol: float = 1e-9, root: Any = None, at: Any = None,
) -> SkewReport:
    """Compare, for ``sample`` keys drawn from the model's materialised features:

    - ``lookup``: the latest materialised values (what serving by key uses);
    - ``raw``: the values computed from those keys' source rows by the same definition
      code (what serving by raw inputs uses);
    - ``served``: optionally, a callable ``keys_frame -> feature frame`` (e.g. asking a
      running server's ``/v1/features/.../values`` route, which answers as of now);

    each against the offline point-in-time values, all at time ``at`` (default: now;
    the views' TTLs apply everywhere alike).
    """
    import pandas as pd

    from mlops_jupyter import datasets
    from mlops_jupyter.features.training import training_frame

    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise UsageError(f"sample must be a positive integer, got {sample!r}")
    parts = online._parts(model)
    first = parts[0].definition
    ent = first.spec["entity"]
    mat = online._latest_materialization(first)
    sf = repo.sorted_features(mat.dataset_version_id, first.spec)
    pool = pd.unique(sf.keys if sf.uniques is None else sf.uniques.take(sf.keys))
    rng = np.random.default_rng(seed)
    keys = pool[rng.permutation(len(pool))[:sample]] if len(pool) else pool
    ents = pd.DataFrame({e: keys for e in {p.definition.spec["entity"] for p in parts}})
    now_col = "__skew_time__"
    when = online.at_ns(at)
    ents[now_col] = pd.Timestamp(when)
    refs = [f"{p.definition.view}@v{p.definition.version}:{f}" for p in parts for f, _ in p.features]
    offline = training_frame(ents, refs, timestamp=now_col, name=None, full_names=True, root=root)
    cols = [(p.definition.view, f, col) for p in parts for f, col in p.features]
    paths: dict[str, pd.DataFrame] = {"lookup": online.lookup_features(model, ents[[ent]], at=when)}
    if raw:
        source_rows = {}
        for p in parts:
            d = p.definition
            src = datasets.get(d.spec["source"])
            full = repo.read_frame(src) if src.kind == "dataframe" else datasets.load(src, as_frame=True)
            e = d.spec["entity"]
            source_rows[d.view] = full[full[e].isin(list(keys))] if e in full.columns else full
        paths["raw"] = online.compute_features(model, source_rows, keys=ents[[ent]], root=root, at=when)[1]
    if served is not None:
        paths["served"] = served(ents[[ent]])
    rows = []
    for path, frame in paths.items():
        for view, f, col in cols:
            n, bad, diff = _compare(frame[col], offline[f"{view}__{f}"], rtol)
            rows.append({"path": path, "feature": f"{view}:{f}", "compared": n, "mismatched": bad,
                         "max_abs_diff": diff})
    return SkewReport(model=model, keys=len(keys), rows=tuple(rows))
