"""The model registry: register, load (verified), promote (audited), history.

Everything a face (magics, CLI, REST) does with models goes through these functions, so
the same action behaves the same everywhere. Names are NFKC-canonical
(:func:`mlops_jupyter.names.entity_name`); aliases are case-insensitive and stored in
lower case; references follow the one grammar (``churn``, ``churn@v3``,
``churn@latest``, ``churn@production``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import (
    ConflictError,
    IntegrityError,
    InvalidNameError,
    NotFoundError,
    UsageError,
)
from mlops_jupyter.models import governance
from mlops_jupyter.models.entities import AliasEvent, ModelCard, ModelVersion
from mlops_jupyter.models.flavors import LoadPolicy, get_flavor, pick_flavor
from mlops_jupyter.models.signature import Signature, from_estimator, infer
from mlops_jupyter.names import entity_name, key
from mlops_jupyter.refs import parse_version_ref
from mlops_jupyter.store.sql.models import ANY, LocatedVersion, ModelVersionRecord
from mlops_jupyter.tracking import session

log = logging.getLogger(__name__)

_VERSIONISH = re.compile(r"^(v?\d+|latest)$", re.IGNORECASE)
MAX_TEXT = 10_000


def _store():  # type: ignore[no-untyped-def]
    return session.get_store()


# -- names and references ---------------------------------------------------------------
def model_name(name: object) -> str:
    return entity_name(name, kind="model name")


def alias_name(alias: object) -> str:
    a = entity_name(alias, kind="alias").lower()
    if _VERSIONISH.match(a):
        raise InvalidNameError(
            f"alias {alias!r} would be read as a version: 'latest', 'v3' and plain numbers "
            "are reserved; choose a word such as 'production' or 'staging'"
        )
    return a


def parse_ref(ref: object) -> tuple[str, int | None, str | None]:
    """(name, version or None, alias or None); both None means latest."""
    if isinstance(ref, ModelVersion):
        return ref.name, ref.version, None
    r = parse_version_ref(ref, kind="model reference")
    if r.selector is not None:
        if r.selector.isdigit():
            raise UsageError(
                f"invalid model reference {ref!r}: write versions as '{r.name}@v{r.selector}'"
            )
        return r.name, None, r.selector.lower()
    return r.name, r.version, None


def get(ref: object) -> ModelVersion:
    """The version a reference names (no bytes are read)."""
    name, version, alias = parse_ref(ref)
    return ModelVersion.of(_store().get_model_version(name, version=version, alias=alias))


def locate(ref: object) -> LocatedVersion:
    """(version id, number, trusted, blob) in one query: cheap enough to re-resolve
    per request."""
    name, version, alias = parse_ref(ref)
    return _store().locate_model_version(name, version=version, alias=alias)


def version_state(version_id: str) -> tuple[bool, str] | None:
    """(trusted, blob) of a version by id, one primary-key query; None if gone."""
    return _store().model_version_state(version_id)


def get_by_id(version_id: str) -> ModelVersion:
    return ModelVersion.of(_store().get_model_version_by_id(version_id))


# -- registering ------------------------------------------------------------------------
def register(
    model: Any,
    name: str,
    *,
    run: Any = None,
    dataset: Any = None,
    signature: Any = None,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    flavor: str | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name`` and return it (``churn@v3``).

    Defaults come from context, so in a notebook ``register(clf, "churn")`` is enough:

    - ``run``: the active run, else the last run of this process (``False``: none);
    - ``dataset``: the dataset versions that run read (refs like ``"churn@v1"`` or
      dataset-version objects; ``False``: none);
    - ``signature``: the training data autologging saw for this estimator, else the
      estimator's ``feature_names_in_``; or pass a DataFrame / array / Signature;
    - ``metrics``: the run's latest metric values (explicit ones win);
    - the package versions needed to load it are recorded with the version.

    The bytes are stored (content-addressed) before the row; a version number is
    allocated inside the write transaction, so concurrent registrations from many
    processes get distinct numbers.
    """
    name = model_name(name)
    st = _store()
    fl = pick_flavor(model, flavor)
    run_id = _run_id(run, model)
    ds_ids = _dataset_ids(dataset, run_id)
    sig = _signature(signature, model)
    all_metrics = _run_metrics(run_id)
    for k, v in (metrics or {}).items():
        all_metrics[key(k, "metric name")] = _number(k, v)
    user_tags = {key(k, "tag key"): _text(f"tag {k!r}", v) for k, v in (tags or {}).items()}
    desc = None if description is None else _text("description", description)
    data, meta = fl.save(model)
    if fl.name == "sklearn" and meta.get("untrusted_types"):
        local = [t for t in meta["untrusted_types"] if t.startswith("__main__.")]
        warnings.warn(
            f"model {name!r} contains types skops does not trust by default "
            f"({', '.join(meta['untrusted_types'])}); loading it will need "
            "mj.models.trust(ref, reason=…) or trusted_types=[…]"
            + (f"; {', '.join(local)} lives in this notebook or script, so only a process "
               "that defines it again can load the model: move it to an importable module"
               if local else ""),
            stacklevel=2,
        )
    digest, size = st.blobs.put_bytes(data)
    if os.environ.get("MLOPS_REPRODUCTION_OF"):
        return _reproduction_version(st, name, run_id, digest, size, fl.name, meta, sig,
                                     all_metrics)
    rec = st.create_model_version(
        name, blob=digest, size=size, flavor=fl.name, user=governance.current_user(),
        run_id=run_id, flavor_meta=meta, signature=None if sig is None else sig.to_dict(),
        metrics=all_metrics, requirements=requirements(model, fl.packages), tags=user_tags,
        description=desc, dataset_version_ids=ds_ids,
    )
    return ModelVersion.of(rec)


def _reproduction_version(st: Any, name: str, run_id: str | None, digest: str, size: int,
                          flavor: str, meta: dict[str, Any], sig: Signature | None,
                          metrics: dict[str, Any]) -> ModelVersion:
    """Inside ``mlops reproduce``: the file is stored (content-addressed, so comparing it
    costs nothing) and its digest tagged on the run, but no version is registered: a
    reproduction checks a result, it does not make a new candidate. The returned
    version (number 0) cannot be promoted or loaded by reference."""
    import time as _time

    if run_id is not None:
        st.set_tags(run_id, {f"mlops.reproduced_model.{name}": digest})
    return ModelVersion(
        id="", model_id="", name=name, version=0, blob=digest, size=size, flavor=flavor,
        created_at=_time.time(), run_id=run_id, flavor_meta=meta,
        signature=None if sig is None else sig.to_dict(), metrics=metrics, requirements={},
        tags={"mlops.reproduction_of": os.environ.get("MLOPS_REPRODUCTION_OF", "")},
        description="not registered: made by a reproduction", trusted=False,
        creator=governance.current_user(), aliases=(), dataset_version_ids=(),
    )


def reject(ref: object, *, reason: str, source: str = "manual") -> ModelVersion:
    """Mark a version rejected: kept for the record, never ``@latest``, never promotable.

    Used for a challenger that lost, a job whose gate failed, and by hand. The reason
    is stored with the version (``tags["mlops.rejected"]``) and in the model's audit.
    """
    mv = get(ref)
    if not isinstance(reason, str) or not reason.strip():
        raise UsageError("reject needs a reason (a non-empty string)")
    st = _store()
    if mv.aliases:
        raise ConflictError(f"{mv.ref} holds alias(es) {', '.join(mv.aliases)}; move them "
                            "first, a served version cannot be rejected")
    st.reject_model_version(mv.id, user=governance.current_user(), reason=reason[:2000],
                            source=source)
    return get_by_id(mv.id)


def _text(what: str, v: Any) -> str:
    s = v if isinstance(v, str) else str(v)
    if len(s) > MAX_TEXT or "\x00" in s:
        raise UsageError(f"{what} must be text of at most {MAX_TEXT} characters without NUL")
    return s


def _number(k: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        try:
            v = float(v)  # numpy scalars
        except (TypeError, ValueError):
            raise UsageError(f"metric {k!r} must be a number, got {type(v).__name__}") from None
    return float(v)


def _run_id(run: Any, model: Any = None) -> str | None:
    """The run to link: the given one; else the active run; else the run that fitted
    this very model under autolog; else the last run of this process."""
    if run is False:
        return None
    if run is None:
        active = session.active_run()
        if active is not None:
            active.flush()
            return active.id
        from mlops_jupyter.tracking.autolog import fit_of

        fit = fit_of(model) if model is not None else None
        if fit is not None and fit.run_id:
            return fit.run_id
        return session.last_run_id()
    rid = getattr(run, "id", run)
    return _store().resolve_run_id(rid)


def _run_metrics(run_id: str | None) -> dict[str, Any]:
    if run_id is None:
        return {}
    try:
        run = _store().get_run(run_id)
    except NotFoundError:
        return {}
    out: dict[str, Any] = {}
    for k, m in run.metrics.items():
        out[k] = m.last if isinstance(m.last, float) and math.isfinite(m.last) else None
    return {k: v for k, v in out.items() if v is not None}


def _dataset_ids(dataset: Any, run_id: str | None) -> list[str]:
    if dataset is False:
        return []
    if dataset is None:
        if run_id is None:
            return []
        try:
            from mlops_jupyter import datasets as ds_api

            return [d.id for d in ds_api.inputs_of_run(run_id)]
        except (ImportError, AttributeError):
            return _store().model_run_inputs(run_id)
    items = dataset if isinstance(dataset, list | tuple | set) else [dataset]
    out = []
    for d in items:
        if hasattr(d, "id") and not isinstance(d, str):
            out.append(str(d.id))
        else:
            out.append(_resolve_dataset(d))
    return out


def _resolve_dataset(ref: Any) -> str:
    """``churn@v1`` / ``churn`` / ``churn@<hash prefix>`` -> dataset version id (the
    datasets domain's own store query, so resolution and its errors are the same)."""
    r = parse_version_ref(ref, kind="dataset reference")
    st = _store()
    resolve = getattr(st, "resolve_dataset_version", None)
    if resolve is None:  # pragma: no cover - the datasets store mixin is part of the package
        raise UsageError(f"cannot resolve dataset reference {ref!r}: datasets are not available")
    return str(resolve(r.name, version=r.version, prefix=r.selector).id)


def _signature(signature: Any, model: Any) -> Signature | None:
    if signature is False:
        return None
    if signature is not None:
        return infer(signature, source="given")
    try:
        from mlops_jupyter.tracking import autolog

        fit = autolog.fit_of(model)  # this very model's fit, not merely the last one
        seen = (model, fit.sample) if fit is not None else None
    except Exception as e:  # noqa: BLE001 - autolog must never break registering
        log.debug("autolog lookup failed: %s", e)
        seen = None
    if seen is not None:
        est, sample = seen
        if est is model and sample is not None:
            try:
                return infer(sample, source="training data (autolog sample)", sample=True)
            except UsageError:
                pass
    return from_estimator(model)


def requirements(model: Any, packages: Iterable[str] = ()) -> dict[str, str]:
    """Installed versions of the distributions needed to load ``model``: the flavor's
    packages plus the distribution named like the model's top-level module (xgboost,
    lightgbm …), looked up directly — scanning every installed distribution costs
    ~0.1 s per process."""
    from importlib.metadata import PackageNotFoundError, version

    top = type(model).__module__.split(".")[0]
    wanted = list(dict.fromkeys([*packages, *([] if top in _NOT_DISTS else [top])]))
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for dist in wanted:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


_NOT_DISTS = {"builtins", "__main__", "sklearn", "collections"}


# -- loading ----------------------------------------------------------------------------
def verified_bytes(mv: ModelVersionRecord) -> bytes:
    """The model file, re-hashed against the registry before anything reads it."""
    try:
        return _store().blobs.get_bytes(mv.blob)
    except IntegrityError as e:
        raise IntegrityError(
            f"model {mv.name}@v{mv.version} failed its integrity check ({e}); "
            "nothing was deserialized"
        ) from None
    except NotFoundError as e:
        raise IntegrityError(
            f"model {mv.name}@v{mv.version}: its file is missing (expected hash {mv.blob}); "
            f"nothing was deserialized ({e})"
        ) from None


def load_version(mv: ModelVersionRecord, trusted_types: Sequence[str] = ()) -> Any:
    data = verified_bytes(mv)
    policy = LoadPolicy(trusted_version=mv.trusted, trusted_types=tuple(trusted_types),
                        ref=f"{mv.name}@v{mv.version}")
    obj = get_flavor(mv.flavor).load(data, mv.flavor_meta, policy)
    _warn_versions(mv)
    return obj


def export(ref: object, dest: Any, *, overwrite: bool = False,
           exists_hint: str = "pass overwrite=True to replace it") -> tuple[ModelVersion, Path]:
    """Write a version's model file (hash-verified) to ``dest`` — a file path, or a
    folder to write ``NAME-vN.skops`` (or ``.pickle``…) into. The write is atomic (a
    temporary file in the same folder, then renamed); an existing file is kept unless
    ``overwrite``; an unwritable path is one :class:`UsageError` naming it."""
    from mlops_jupyter._files import write_atomic

    mv = get(ref)
    data = verified_bytes(mv)  # re-hashed against the registry
    path = Path(dest).expanduser()
    if path.is_dir():
        path = path / f"{mv.name}-v{mv.version}.{'skops' if mv.flavor == 'sklearn' else mv.flavor}"
    write_atomic(path, lambda tmp: tmp.write_bytes(data), overwrite=overwrite,
                 exists_hint=exists_hint)
    return mv, path


def load(ref: object, *, trusted_types: Sequence[str] = ()) -> Any:
    """The model object, after its file's hash matched the registry and its flavor's
    safety checks passed (skops trusted types; pickle only for trusted versions)."""
    return load_version(get(ref), trusted_types)


def _warn_versions(mv: ModelVersionRecord) -> None:
    from importlib.metadata import PackageNotFoundError, version

    diffs = []
    for dist, want in mv.requirements.items():
        if dist == "python":
            continue
        try:
            have = version(dist)
        except PackageNotFoundError:
            have = "not installed"
        if have != want:
            diffs.append(f"{dist} {want} (here: {have})")
    if diffs:
        warnings.warn(
            f"{mv.name}@v{mv.version} was saved with {', '.join(diffs)}; predictions may differ",
            stacklevel=3,
        )


# -- governance -------------------------------------------------------------------------
def promote(
    ref: object, alias: str, *, reason: str | None = None, expected_current: Any = ANY,
    force: bool = False,
) -> ModelVersion:
    """Move ``alias`` to the version ``ref`` names, as a compare-and-set.

    ``expected_current``: the version you believe holds the alias now (``3``, ``"v3"``,
    ``"churn@v3"``) or ``None`` for "not set yet"; if it moved meanwhile a
    :class:`ConflictError` is raised and nothing changes. Promotion rules for the alias
    (:func:`set_rules`) are checked in the same transaction; ``force=True`` skips them
    and the audit record says so. Who, when, from, to, reason and both versions'
    metrics go to the append-only audit log in the same transaction.
    """
    name, version, ref_alias = parse_ref(ref)
    alias = alias_name(alias)
    st = _store()
    if version is None:  # latest or another alias: pin the number now
        version = st.get_model_version(name, alias=ref_alias).version
    expected = _expected(expected_current)
    reason = None if reason is None else _text("reason", reason)

    def check(cur: Any, new: Any, rules: Mapping[str, Any]) -> Mapping[str, Any]:
        if force:
            return {"forced": True, "rules": dict(rules)} if rules else {"forced": True}
        return governance.check_rules(
            rules, new.metrics, None if cur is None else cur.metrics,
            candidate_name=f"{name}@v{new.version}",
            holder_name=None if cur is None else f"{name}@v{cur.version}", alias=alias,
        )

    st.move_alias(name, alias, version=version, user=governance.current_user(), reason=reason,
                  expected_current=expected, check=check)
    return get(f"{name}@v{version}")


def demote(name: str, alias: str, *, reason: str | None = None, expected_current: Any = ANY) -> AliasEvent:
    """Remove ``alias`` from ``name`` (audited); serving that alias then answers 404."""
    rec = _store().move_alias(
        model_name(name), alias_name(alias), version=None, user=governance.current_user(),
        reason=None if reason is None else _text("reason", reason),
        expected_current=_expected(expected_current), action="demote",
    )
    return AliasEvent.of(rec)


def _expected(v: Any) -> Any:
    if v is ANY or v is None:
        return v
    if isinstance(v, ModelVersion):
        return v.version
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        text = v.rsplit("@", 1)[-1].strip().lower()
        if re.fullmatch(r"v?\d{1,9}", text):
            return int(text.lstrip("v"))
    raise UsageError(f"expected_current must be a version (3, 'v3', 'name@v3') or None, got {v!r}")


def trust(ref: object, *, reason: str, trusted: bool = True) -> AliasEvent:
    """Mark a version trusted (its pickle or non-default skops types may load), audited.

    Trust is given to a version, i.e. to exact bytes: the hash is re-checked on every
    load, so a trusted version whose file changes is still refused.
    """
    if not reason or not isinstance(reason, str):
        raise UsageError("trusting a model version needs a reason (it is written to the audit log)")
    mv = get(ref)
    rec = _store().set_model_trusted(mv.name, mv.version, trusted=trusted,
                                     user=governance.current_user(), reason=_text("reason", reason))
    return AliasEvent.of(rec)


def set_rules(
    name: str, alias: str, *, require: Sequence[str] | str | None = None, beat: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Promotion rules for ``name@alias`` (audited); no arguments clears them.

    ``require=["auc>=0.8"]``: conditions on the candidate's metrics; ``beat="auc"``:
    strictly better than the current holder (``"-rmse"``: lower is better).
    """
    rules = governance.normalise_rules(require, beat)
    _store().set_model_rules(model_name(name), alias_name(alias), rules or None,
                             user=governance.current_user(),
                             reason=None if reason is None else _text("reason", reason))
    return rules


def rules(name: str) -> dict[str, Any]:
    return _store().model_rules(model_name(name))


def events(name: str, alias: str | None = None) -> list[AliasEvent]:
    return [AliasEvent.of(r) for r in _store().model_audit(
        model_name(name), None if alias is None else alias_name(alias))]


def history(name: str, alias: str | None = None) -> Any:
    """The audit log of ``name`` (optionally one alias) as a DataFrame, oldest first:
    at (UTC), user, action, alias, from_version, to_version, reason, and for alias
    moves ``until`` (when the alias moved again; NaT while it still holds)."""
    import pandas as pd

    evs = events(name, alias)
    rows = [{
        "at": e.at, "user": e.user, "action": e.action, "alias": e.alias,
        "from_version": e.from_version, "to_version": e.to_version, "reason": e.reason,
        "forced": bool(e.details.get("forced", False)),
    } for e in evs]
    df = pd.DataFrame(rows, columns=["at", "user", "action", "alias", "from_version",
                                     "to_version", "reason", "forced"])
    until: list[float | None] = [None] * len(evs)
    last: dict[str, int] = {}
    for i, e in enumerate(evs):
        if e.action in ("promote", "demote") and e.alias:
            if e.alias in last:
                until[last[e.alias]] = e.at
            last[e.alias] = i
    df["until"] = pd.to_datetime(pd.Series(until, dtype="float64"), unit="s", utc=True)
    df["at"] = pd.to_datetime(df["at"].astype("float64"), unit="s", utc=True)
    for c in ("from_version", "to_version"):
        df[c] = df[c].astype("Int64")
    return df


def version_at(ref: str, when: Any) -> ModelVersion | None:
    """Which version ``name@alias`` pointed at, at time ``when`` (a datetime, a date
    string, or UNIX seconds). None if the alias was not set then. Answered from the
    audit log, so it reflects exactly what serving resolved at that moment."""
    name, _version, alias = parse_ref(ref)
    if alias is None:
        raise UsageError(f"version_at needs an alias reference such as '{name}@production'")
    t = _timestamp(when)
    holder: int | None = None
    for e in events(name, alias):
        if e.at > t:
            break
        if e.action in ("promote", "demote"):
            holder = e.to_version
    return None if holder is None else get(f"{name}@v{holder}")


def _timestamp(when: Any) -> float:
    if isinstance(when, int | float) and not isinstance(when, bool):
        return float(when)
    if isinstance(when, str):
        try:
            return float(when)  # UNIX seconds, as the CLI and magics pass them
        except ValueError:
            pass
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            raise UsageError(f"cannot read {when!r} as a date-time; use ISO 8601 like 2026-03-01T12:00") from None
    if isinstance(when, datetime):
        return when.timestamp()  # naive datetimes are local time, as Python reads them
    ts = getattr(when, "timestamp", None)
    if callable(ts):
        return float(ts())
    raise UsageError(f"expected a datetime, ISO string or UNIX seconds, got {type(when).__name__}")


# -- reading ----------------------------------------------------------------------------
def list_models() -> Any:
    """One row per registered model: versions, latest, aliases."""
    import pandas as pd

    rows = [{
        "name": m.name, "versions": m.version_count, "latest": m.latest_version,
        "aliases": ", ".join(f"{a}=v{v}" for a, v in sorted(m.aliases.items())),
        "created_at": m.created_at, "description": m.description,
    } for m in _store().list_models()]
    df = pd.DataFrame(rows, columns=["name", "versions", "latest", "aliases", "created_at", "description"])
    df["created_at"] = pd.to_datetime(df["created_at"].astype("float64"), unit="s", utc=True)
    return df


def versions(name: str) -> list[ModelVersion]:
    return [ModelVersion.of(r) for r in _store().list_model_versions(model_name(name))]


def aliases(name: str) -> dict[str, int]:
    name = model_name(name)
    for m in _store().list_models():
        if m.name == name:
            return dict(m.aliases)
    _store().model_rules(name)  # raises NotFoundError naming the models
    return {}


def show(ref: object) -> ModelCard:
    """The model card: version, aliases, signature, metrics, lineage, alias history."""
    mv = get(ref)
    st = _store()
    run = None
    if mv.run_id:
        try:
            run = st.get_run(mv.run_id)
        except NotFoundError:
            run = None
    return ModelCard(
        version=mv, datasets=st.model_dataset_lineage(mv.dataset_version_ids), run=run,
        history=events(mv.name), all_aliases=aliases(mv.name),
    )
