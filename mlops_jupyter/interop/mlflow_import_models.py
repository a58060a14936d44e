"""The registry half of ``mlops import mlflow``: registered models, versions, aliases.

Each MLflow version becomes the next version of the model of the same name, in MLflow's
order (so a fresh import keeps the numbers), with its description, tags, stage (as the
``mlflow.stage`` tag) and the run it came from. A tag (``mlops.mlflow_source``) records
which MLflow version it was, so a second import recognises it. Aliases are set once:
an alias this store already has is left where its users put it, unless the version it
names in MLflow was imported just now. A stage (Staging, Production) becomes an alias of
the same name when MLflow has no alias by that name.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import MlopsError, NotFoundError
from mlops_jupyter.interop.mlflow_import import SOURCE_TAG
from mlops_jupyter.interop.mlflow_models import mlmodel, read_sklearn
from mlops_jupyter.interop.mlflow_source import Source
from mlops_jupyter.interop.report import TransferReport

_STAGE_ALIASES = ("Staging", "Production")


def import_models(
    client: Any, src: Source, st: Any, versions: Sequence[tuple[Any, list[Any]]],
    report: TransferReport, bar: Any, trust_pickle: bool,
) -> None:
    from mlops_jupyter.models.registry import alias_name, model_name

    for rm, mvs in versions:
        try:
            name = model_name(rm.name)
        except MlopsError as e:
            report.not_carried.append(f"model {rm.name!r} ({len(mvs)} versions): {e}")
            bar.update(len(mvs))
            continue
        if rm.tags:
            report.not_carried.append(
                f"model {name!r}: registered-model tags {sorted(rm.tags)} (the registry keeps "
                "tags per version only)"
            )
        mapping = _already_imported(st, name, src)
        fresh: set[int] = set()
        for mv in mvs:
            key = _source_key(src, rm.name, mv)
            if key in mapping:
                report.model_versions_present += 1
            else:
                number = _one_version(client, src, st, name, rm, mv, key, report, trust_pickle)
                if number is not None:
                    mapping[key] = number
                    fresh.add(number)
            if key in mapping:
                report.versions[f"{rm.name}/{mv.version}"] = f"{name}@v{mapping[key]}"
                if mapping[key] != int(mv.version):
                    report.not_carried.append(
                        f"model {name!r}: MLflow version {mv.version} is v{mapping[key]} here "
                        "(versions are numbered in order of arrival)"
                    )
            bar.update(1)
        wanted = dict(getattr(rm, "aliases", None) or {})
        for mv in mvs:  # stages become aliases unless an alias of that name exists
            stage = mv.current_stage
            if stage in _STAGE_ALIASES and stage.lower() not in wanted:
                wanted[stage.lower()] = mv.version  # later (higher) versions win
        for alias, version in sorted(wanted.items()):
            key = next((_source_key(src, rm.name, mv) for mv in mvs if str(mv.version) == str(version)), None)
            number = mapping.get(key) if key else None
            if number is None:
                report.not_carried.append(f"alias {name}@{alias}: its version {version} was not imported")
                continue
            try:
                a = alias_name(alias)
                _set_alias(st, name, a, number, fresh, report)
            except MlopsError as e:
                report.not_carried.append(f"alias {name}@{alias}: {e}")


def _source_key(src: Source, name: str, mv: Any) -> str:
    # name, version and creation time together identify a version across stores
    return f"{name}/{mv.version}@{mv.creation_timestamp}"


def _already_imported(st: Any, name: str, src: Source) -> dict[str, int]:
    try:
        existing = st.list_model_versions(name)
    except NotFoundError:
        return {}
    return {v.tags[SOURCE_TAG]: v.version for v in existing if SOURCE_TAG in (v.tags or {})}


def _set_alias(st: Any, name: str, alias: str, number: int, fresh: set[int], report: TransferReport) -> None:
    from mlops_jupyter.models import governance

    try:
        current = st.get_model_version(name, alias=alias).version
    except NotFoundError:
        current = None
    if current == number or (current is not None and number not in fresh):
        return  # already there, or moved here since: this store's users decide now
    st.move_alias(name, alias, version=number, user=governance.current_user(),
                  reason="imported from MLflow", action="import")
    report.aliases.append(f"{name}@{alias} -> v{number}")


def _files_uri(client: Any, mv: Any) -> str:
    """Where a version's files are. Not ``get_model_version_download_uri``: on a file
    store it resolves MLflow 3's logged models through the *default* tracking URI and so
    creates ``./mlflow.db`` in the working folder."""
    source = str(mv.source or "")
    if source.startswith("models:/m-"):
        return str(client.get_logged_model(source[len("models:/"):].split("/", 1)[0]).artifact_location)
    return source


def _one_version(
    client: Any, src: Source, st: Any, name: str, rm: Any, mv: Any, key: str,
    report: TransferReport, trust_pickle: bool,
) -> int | None:
    """Import one MLflow version; None (and a line in the report) when it cannot be."""
    import mlflow.artifacts

    from mlops_jupyter.models import governance
    from mlops_jupyter.models.flavors import get_flavor
    from mlops_jupyter.models.registry import requirements
    from mlops_jupyter.models.signature import from_estimator

    ref = f"MLflow model {rm.name!r} version {mv.version}"
    with tempfile.TemporaryDirectory(prefix="mlops-mlflow-model-") as tmp:
        try:
            uri = _files_uri(client, mv)
            folder = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=tmp, tracking_uri=src.uri, registry_uri=src.uri,
            ))
        except Exception as e:  # noqa: BLE001 - files gone, store unreadable
            report.not_carried.append(f"{ref}: its files could not be downloaded ({type(e).__name__}: {e})")
            return None
        flavors = mlmodel(folder).get("flavors") or {}
        if "sklearn" not in flavors:
            report.not_carried.append(
                f"{ref}: flavor(s) {', '.join(sorted(flavors)) or 'unknown'}; only scikit-learn "
                "models are converted (re-saved as skops)"
            )
            return None
        try:
            read = read_sklearn(folder, flavors["sklearn"], trust=trust_pickle, ref=ref)
        except MlopsError as e:
            report.not_carried.append(str(e))
            return None
    fl = get_flavor("sklearn")
    data, meta = fl.save(read.model)
    digest, size = st.blobs.put_bytes(data)
    run_id = report.run_ids.get(mv.run_id or "")
    if run_id is None and mv.run_id:
        report.not_carried.append(f"{ref}: its run {mv.run_id} was not imported; linked to no run")
    metrics: dict[str, Any] = {}
    if run_id is not None:
        try:
            metrics = {k: m.last for k, m in st.get_run(run_id).metrics.items()}
        except NotFoundError:
            run_id = None
    tags = {str(k): str(v) for k, v in (mv.tags or {}).items()}
    tags[SOURCE_TAG] = key
    if mv.current_stage and mv.current_stage != "None":
        tags["mlflow.stage"] = mv.current_stage
    sig = from_estimator(read.model)
    user = mv.user_id or governance.current_user()
    rec = st.create_model_version(
        name, blob=digest, size=size, flavor=fl.name, user=user, run_id=run_id,
        flavor_meta=meta, signature=None if sig is None else sig.to_dict(), metrics=metrics,
        requirements=requirements(read.model, fl.packages), tags=tags,
        description=mv.description or None, model_description=rm.description or None,
    )
    if read.serialization != "skops" or read.trusted_types:
        what = (f"a {read.serialization} file" if read.serialization != "skops"
                else f"a skops file with types {', '.join(read.trusted_types)}")
        st.set_model_trusted(
            name, rec.version, trusted=True, user=governance.current_user(),
            reason=f"imported from MLflow ({src.shown}, {rm.name} v{mv.version}): {what}, "
                   "loaded because the import was run with trust_pickle",
        )
    report.model_versions.append(f"{name}@v{rec.version}")
    return rec.version
