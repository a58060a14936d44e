"""The model registry: versions with lineage, safe model files, audited aliases.

``mj.models.register(clf, "churn")`` -> ``churn@v3``; ``mj.models.promote("churn@v3",
alias="production", reason=...)``; ``mj.models.load("churn@production")`` returns the
object only after its file re-hashed to what the registry recorded. See
docs/registry.md.
"""

from mlops_jupyter.models.entities import AliasEvent, ModelCard, ModelVersion
from mlops_jupyter.models.flavors import Flavor, LoadPolicy, register_flavor
from mlops_jupyter.models.flavors import flavors as list_flavors
from mlops_jupyter.models.governance import RuleFailed
from mlops_jupyter.models.registry import (
    aliases,
    demote,
    events,
    get,
    history,
    list_models,
    load,
    promote,
    register,
    reject,
    rules,
    set_rules,
    show,
    trust,
    version_at,
    versions,
)
from mlops_jupyter.models.signature import Column, Signature
from mlops_jupyter.models.signature import infer as infer_signature

__all__ = [
    "AliasEvent",
    "Column",
    "Flavor",
    "LoadPolicy",
    "ModelCard",
    "ModelVersion",
    "RuleFailed",
    "Signature",
    "aliases",
    "demote",
    "events",
    "list_flavors",
    "get",
    "history",
    "infer_signature",
    "list_models",
    "load",
    "promote",
    "register",
    "register_flavor",
    "reject",
    "rules",
    "set_rules",
    "show",
    "trust",
    "version_at",
    "versions",
]
