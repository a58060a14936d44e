"""What an import or export did, and what it could not carry over.

One report object for both directions, with a plain-text summary (CLI, logs) and an
escaped HTML rendering (notebooks)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(repr=False)
class TransferReport:
    """Counts of what moved, what was already there, and one line per thing left behind."""

    direction: str  # import | export
    source: str
    target: str
    experiments: list[str] = field(default_factory=list)
    runs: int = 0  # runs written this time
    runs_present: int = 0  # found from an earlier transfer: left as they were
    metric_points: int = 0
    artifacts: int = 0
    model_versions: list[str] = field(default_factory=list)  # e.g. "churn@v1"
    model_versions_present: int = 0
    aliases: list[str] = field(default_factory=list)  # e.g. "churn@production -> v1"
    not_carried: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: source run id -> target run id, for every run written or found
    run_ids: dict[str, str] = field(default_factory=dict)
    #: "name/version" in the source -> "name@vN" in the target
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when nothing had to be left behind."""
        return not self.not_carried

    def lines(self) -> list[str]:
        verb = "imported" if self.direction == "import" else "exported"
        out = [
            f"{verb} from {self.source} to {self.target} in {self.seconds:.1f} s:",
            f"  experiments: {len(self.experiments)}"
            + (f" ({', '.join(self.experiments[:5])}{', …' if len(self.experiments) > 5 else ''})"
               if self.experiments else ""),
            f"  runs: {self.runs} new, {self.runs_present} already there"
            f" ({self.metric_points:,} metric points, {self.artifacts} artifact files)",
            f"  model versions: {len(self.model_versions)} new, "
            f"{self.model_versions_present} already there"
            + (f"; aliases: {', '.join(self.aliases)}" if self.aliases else ""),
        ]
        if self.not_carried:
            out.append(f"  not carried over ({len(self.not_carried)}):")
            out.extend(f"  - {line}" for line in self.not_carried)
        else:
            out.append("  everything was carried over")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return (
            f"<TransferReport {self.direction} {self.source} -> {self.target}: {self.runs} runs, "
            f"{len(self.model_versions)} model versions, {len(self.not_carried)} not carried over>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        head, *rest = self.lines()
        items = "".join(f"<li>{escape(line.strip().lstrip('- '))}</li>" for line in rest)
        return f"<div class='mlops-transfer'><b>{escape(head)}</b><ul>{items}</ul></div>"
