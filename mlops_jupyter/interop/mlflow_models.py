"""Model files between MLflow's sklearn flavor and this registry's skops files.

Reading: MLflow 3 saves scikit-learn models with skops by default, earlier versions
with pickle or cloudpickle. A skops file is read with *our* vetted type list (MLflow's
own loader trusts the list written in the model's MLmodel file, which the file's author
controls). A pickle runs arbitrary code when loaded, so it is read only when the caller
says the store is trusted; the model is then re-saved as skops and the trust is written
to the audit log.

Writing: ``mlflow.sklearn.save_model`` in the skops format, with the requirements the
version recorded (so MLflow does not start a subprocess to infer them), then MLflow's
client logs the folder and registers it (no MLflow run is started).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_jupyter.errors import UnsafeModelError

PICKLE_FORMATS = ("pickle", "cloudpickle")


@dataclass(frozen=True)
class ReadModel:
    """A scikit-learn model read from an MLflow model folder."""

    model: Any
    serialization: str  # skops | pickle | cloudpickle
    trusted_types: tuple[str, ...]  # types beyond the vetted list the caller accepted


def mlmodel(folder: Path) -> dict[str, Any]:
    """The parsed ``MLmodel`` file of an MLflow model folder ({} if there is none)."""
    import yaml

    f = folder / "MLmodel"
    if not f.is_file():
        return {}
    doc = yaml.safe_load(f.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else {}


def read_sklearn(folder: Path, flavor: Mapping[str, Any], *, trust: bool, ref: str) -> ReadModel:
    """The estimator saved in ``folder`` by MLflow's sklearn flavor.

    Raises :class:`UnsafeModelError` (nothing loaded) for a pickle without ``trust`` and
    for a skops file naming types outside the vetted list without ``trust``."""
    fmt = str(flavor.get("serialization_format") or "cloudpickle")
    name = str(flavor.get("pickled_model") or ("model.skops" if fmt == "skops" else "model.pkl"))
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise UnsafeModelError(f"{ref}: its MLmodel names a model file {name!r} that is not in the model folder")
    data = path.read_bytes()
    if fmt == "skops":
        import skops.io as sio

        from mlops_jupyter.models.flavors import LoadPolicy, get_flavor

        try:
            untrusted = tuple(sorted(sio.get_untrusted_types(data=data)))
        except Exception as e:  # noqa: BLE001 - not a skops file
            raise UnsafeModelError(f"{ref}: not a readable skops file ({type(e).__name__})") from None
        extra = untrusted if trust else ()
        model = get_flavor("sklearn").load(data, {}, LoadPolicy(trusted_types=extra, ref=ref))
        from mlops_jupyter.models.flavors import VETTED_TYPES

        return ReadModel(model, fmt, tuple(t for t in extra if t not in VETTED_TYPES))
    if fmt not in PICKLE_FORMATS:
        raise UnsafeModelError(f"{ref}: unknown MLflow sklearn serialization {fmt!r}")
    if not trust:
        raise UnsafeModelError(
            f"{ref} is a {fmt} file: loading it runs arbitrary code, so it was not imported. "
            "If you trust this MLflow store, import again with --trust-pickle "
            "(trust_pickle=True): the model is re-saved as skops and the trust is recorded "
            "in the audit log"
        )
    import pickle  # noqa: S403 - the caller trusted this store explicitly (audited)

    try:
        model = pickle.loads(data)  # noqa: S301 - gated by trust_pickle, recorded in the audit
    except Exception as e:  # noqa: BLE001 - a module missing here, a truncated file
        raise UnsafeModelError(f"{ref}: the {fmt} file could not be read here ({type(e).__name__}: {e})") from None
    return ReadModel(model, fmt, ())


def save_sklearn_for_mlflow(
    model: Any, dest: Path, *, requirements: Mapping[str, str], trusted_types: Sequence[str] = (),
) -> None:
    """Write ``model`` as an MLflow model folder (sklearn flavor, skops format)."""
    from mlops_jupyter.interop.mlflow_source import load_mlflow

    load_mlflow()
    import mlflow.sklearn

    pins = [f"{d}=={v}" for d, v in sorted(requirements.items()) if d != "python"]
    if not any(p.startswith("scikit-learn==") for p in pins):
        pins.append("scikit-learn")
    if not any(p.startswith("skops==") for p in pins):
        pins.append("skops")
    mlflow.sklearn.save_model(
        model, str(dest), serialization_format="skops", pip_requirements=pins,
        skops_trusted_types=list(trusted_types) or None,
    )
