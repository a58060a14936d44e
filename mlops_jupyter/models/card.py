"""HTML for model versions and model cards, with the lineage drawn as inline SVG.

Static HTML (no JavaScript) so it survives papermill/nbconvert. Every user-supplied
string (names, reasons, tags, descriptions) goes through :func:`esc`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mlops_jupyter.display.html import badge, card, esc, fmt_value, kv_table, table

if TYPE_CHECKING:
    from mlops_jupyter.models.entities import ModelCard, ModelVersion

BOX_W, BOX_H, GAP_X, GAP_Y = 150, 34, 40, 10


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _clip(text: str, n: int = 22) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _box(x: int, y: int, label: str, sub: str, color: str) -> str:
    return (
        f'<g><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="{color}" '
        f'fill-opacity="0.12" stroke="{color}"/>'
        f'<text x="{x + 6}" y="{y + 14}" font-size="11" font-family="sans-serif">{esc(_clip(label))}</text>'
        f'<text x="{x + 6}" y="{y + 27}" font-size="9" fill="#666" font-family="sans-serif">{esc(_clip(sub, 28))}</text>'
        "<title>" + esc(f"{label} {sub}") + "</title></g>"
    )


def lineage_svg(c: ModelCard) -> str:
    """dataset versions -> run -> model version -> aliases, left to right."""
    v = c.version
    cols: list[list[tuple[str, str, str]]] = [
        [(f"{d.name}@v{d.version}", d.digest[:12], "#6a1b9a") for d in c.datasets],
        [] if c.run is None else [(f"run {c.run.id[:8]}", c.run.name or c.run.experiment, "#1565c0")],
        [(v.ref, v.flavor + (" · trusted" if v.trusted else ""), "#2e7d32")],
        [(f"@{a}", "alias", "#ef6c00") for a in v.aliases],
    ]
    cols = [col for col in cols if col]
    rows = max(len(col) for col in cols)
    height = rows * (BOX_H + GAP_Y) + GAP_Y
    width = len(cols) * (BOX_W + GAP_X) - GAP_X + 20
    parts = []
    centers: list[list[tuple[int, int]]] = []
    for i, col in enumerate(cols):
        x = 10 + i * (BOX_W + GAP_X)
        top = (height - len(col) * (BOX_H + GAP_Y) + GAP_Y) // 2
        cs = []
        for j, (label, sub, color) in enumerate(col):
            y = top + j * (BOX_H + GAP_Y)
            parts.append(_box(x, y, label, sub, color))
            cs.append((x, y + BOX_H // 2))
        centers.append(cs)
    arrows = []
    for i in range(len(centers) - 1):
        for x0, y0 in centers[i]:
            for x1, y1 in centers[i + 1]:
                arrows.append(
                    f'<line x1="{x0 + BOX_W}" y1="{y0}" x2="{x1 - 3}" y2="{y1}" stroke="#999" '
                    'marker-end="url(#mj-arrow)"/>'
                )
    defs = ('<defs><marker id="mj-arrow" markerWidth="8" markerHeight="8" refX="6" refY="3" '
            'orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#999"/></marker></defs>')
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{defs}{"".join(arrows)}{"".join(parts)}</svg>'
    )


def _title(v: ModelVersion) -> str:
    aliases = " ".join(badge(f"@{a}", "mj-warn") for a in v.aliases)
    trusted = badge("trusted", "mj-ok") if v.trusted else ""
    return (f"Model {esc(v.ref)} {aliases} {trusted} "
            f'<span class="mj-dim">{esc(v.flavor)} · {esc(_when(v.created_at))}</span>')


def _signature_table(v: ModelVersion) -> str:
    sig = v.input_signature
    if sig is None:
        return '<span class="mj-dim">no signature recorded</span>'
    rows = [[c.name, c.type, c.dtype, "yes" if c.nullable else "no",
             "" if c.categories is None else ", ".join(map(str, c.categories[:8]))]
            for c in sig.columns]
    return table(["column", "type", "dtype", "nullable", "categories"], rows) + (
        f'<div class="mj-dim">from {esc(sig.source or "?")}; '
        f'{"DataFrame" if sig.frame else "array"} input</div>'
    )


def version_summary_html(v: ModelVersion) -> str:
    parts = []
    if v.description:
        parts.append(f"<p>{esc(v.description)}</p>")
    if v.metrics:
        parts.append("<b>Metrics</b>" + kv_table(sorted(v.metrics.items())))
    parts.append(kv_table([
        ("digest", v.blob[:16] + "…"), ("size", v.size), ("run", (v.run_id or "")[:8] or None),
        ("creator", v.creator),
    ]))
    return card(_title(v), "".join(parts))


def card_sections(c: ModelCard) -> tuple[str, list[tuple[str, str]]]:
    """(title, [(label, html), ...]) shared by the static card and the live panel."""
    v = c.version
    overview = []
    if v.description:
        overview.append(f"<p>{esc(v.description)}</p>")
    if v.metrics:
        overview.append("<b>Metrics</b>" + kv_table(sorted(v.metrics.items())))
    facts = [
        ("digest (BLAKE3)", v.blob), ("size", v.size), ("creator", v.creator),
        ("run", None if c.run is None else f"{c.run.id} ({c.run.name or ''})"),
        ("git", None if c.run is None else c.run.git_commit),
        ("source", None if c.run is None else c.run.source),
        ("all aliases", ", ".join(f"{a}=v{n}" for a, n in sorted(c.all_aliases.items()))),
    ]
    if v.flavor_meta.get("untrusted_types"):
        facts.append(("needs trust for", ", ".join(v.flavor_meta["untrusted_types"])))
    overview.append("<details open><summary>Details</summary>"
                    + kv_table([(k, x) for k, x in facts if x not in (None, "")]) + "</details>")
    if v.requirements:
        overview.append("<details><summary>Requirements</summary>"
                        + kv_table(sorted(v.requirements.items())) + "</details>")
    if v.tags:
        overview.append("<b>Tags</b>" + kv_table(sorted(v.tags.items())))
    history = ""
    if c.history:
        rows = [[_when(e.at), e.user, e.action, e.alias or "",
                 "" if e.from_version is None else f"v{e.from_version}",
                 "" if e.to_version is None else f"v{e.to_version}", e.reason or ""]
                for e in c.history[-20:]]
        history = "<b>History</b>" + table(
            ["at", "user", "action", "alias", "from", "to", "reason"], rows)
    return _title(v), [
        ("Overview", "".join(overview)),
        ("Lineage", "<b>Lineage</b><div>" + lineage_svg(c) + "</div>"),
        ("Signature", "<b>Signature</b>" + _signature_table(v)),
        ("History", history),
    ]


def card_html(c: ModelCard) -> str:
    title, sections = card_sections(c)
    return card(title, "".join(html for _, html in sections))


__all__ = ["card_html", "card_sections", "lineage_svg", "version_summary_html", "fmt_value"]
