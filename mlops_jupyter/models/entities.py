"""What the registry hands back: plain dataclasses with a rich notebook display."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from mlops_jupyter.models.signature import Signature
from mlops_jupyter.store.sql.models import AuditRecord, DatasetLineage, ModelVersionRecord


@dataclass(frozen=True)
class ModelVersion(ModelVersionRecord):
    """One registered version: ``churn@v3``. Load it with ``mj.models.load(mv.ref)``."""

    @classmethod
    def of(cls, rec: ModelVersionRecord) -> ModelVersion:
        return cls(**{f.name: getattr(rec, f.name) for f in fields(ModelVersionRecord)})

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def digest(self) -> str:
        return self.blob

    @property
    def input_signature(self) -> Signature | None:
        return None if self.signature is None else Signature.from_dict(self.signature)

    def __repr__(self) -> str:
        aliases = f" aliases={','.join(self.aliases)}" if self.aliases else ""
        metrics = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in list(self.metrics.items())[:5]
        )
        trusted = " trusted" if self.trusted else ""
        return (f"<ModelVersion {self.ref} flavor={self.flavor}{trusted}{aliases} "
                f"run={(self.run_id or '-')[:8]} {metrics}>")

    def _repr_html_(self) -> str:
        from mlops_jupyter.models.card import version_summary_html

        return version_summary_html(self)


@dataclass(frozen=True)
class AliasEvent(AuditRecord):
    """One line of a model's governance history (from the append-only audit log)."""

    @classmethod
    def of(cls, rec: AuditRecord) -> AliasEvent:
        return cls(**{f.name: getattr(rec, f.name) for f in fields(AuditRecord)})

    def __repr__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))
        move = f"{_v(self.from_version)} -> {_v(self.to_version)}"
        where = f"@{self.alias}" if self.alias else ""
        return f"<AliasEvent {when} {self.action} {self.model}{where} {move} by {self.user}>"


def _v(n: int | None) -> str:
    return "-" if n is None else f"v{n}"


@dataclass(frozen=True)
class ModelCard:
    """Everything ``mj.models.show(ref)`` knows about a version, for a notebook or REST."""

    version: ModelVersion
    datasets: list[DatasetLineage]
    run: Any | None  # tracking Run, when the version came from a run
    history: list[AliasEvent]
    all_aliases: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        v = self.version
        return {
            "name": v.name, "version": v.version, "ref": v.ref, "digest": v.blob,
            "size": v.size, "flavor": v.flavor, "trusted": v.trusted,
            "created_at": v.created_at, "creator": v.creator, "description": v.description,
            "aliases": list(v.aliases), "model_aliases": self.all_aliases,
            "signature": v.signature, "metrics": v.metrics, "requirements": v.requirements,
            "tags": v.tags,
            "lineage": {
                "datasets": [
                    {"ref": f"{d.name}@v{d.version}", "digest": d.digest} for d in self.datasets
                ],
                "run": None if self.run is None else {
                    "id": self.run.id, "name": self.run.name, "experiment": self.run.experiment,
                    "git_commit": self.run.git_commit, "source": self.run.source,
                },
            },
            "history": [
                {"at": e.at, "user": e.user, "action": e.action, "alias": e.alias,
                 "from_version": e.from_version, "to_version": e.to_version,
                 "reason": e.reason}
                for e in self.history
            ],
        }

    def _repr_html_(self) -> str:
        from mlops_jupyter.models.card import card_html

        return card_html(self)

    def widget(self) -> Any:
        """A live panel (ipywidgets tabs: overview, lineage, signature, history)."""
        from mlops_jupyter.display.panel import tabs
        from mlops_jupyter.models.card import card_sections

        return tabs(*card_sections(self))

    def __repr__(self) -> str:
        return f"<ModelCard {self.version.ref} datasets={len(self.datasets)} events={len(self.history)}>"


__all__ = ["ModelVersion", "AliasEvent", "ModelCard"]
