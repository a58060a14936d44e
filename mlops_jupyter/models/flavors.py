"""Model flavors: how an object becomes bytes and, safely, back.

One registry per plug-in point (DESIGN.md): built-in flavors are registered in code,
third-party ones (xgboost, lightgbm, torch …) through the ``mlops_jupyter.flavors``
entry-point group, loaded lazily and guarded so a broken plug-in never breaks import.

Two built-ins:

- ``sklearn`` — scikit-learn estimators and pipelines, saved with skops. Loading runs
  skops' trusted-type check: a file naming types outside skops' safe list is refused
  and the types are listed. There is **no fallback to pickle**. Types a user accepts
  explicitly (``trusted_types=``) or a version marked trusted by an audited action may
  load.
- ``pickle`` — any Python object through cloudpickle (or pickle). Never chosen
  automatically; loading executes arbitrary code, so it is allowed only for a version
  marked trusted (``mj.models.trust(ref, reason=...)``, written to the audit log).

Loaders receive bytes whose hash the registry has already verified.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_jupyter.errors import UnsafeModelError, UsageError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mlops_jupyter.flavors"


@dataclass(frozen=True)
class LoadPolicy:
    """What a loader may accept beyond its safe defaults."""

    trusted_version: bool = False  # marked trusted by an audited action
    trusted_types: tuple[str, ...] = ()  # types the caller accepts for this load
    ref: str = ""  # for messages


@dataclass(frozen=True)
class Flavor:
    """A saver/loader pair.

    ``save(obj) -> (bytes, meta)``: ``meta`` is stored with the version (for skops: the
    types that would need trust). ``load(data, meta, policy)`` returns the object or
    raises :class:`UnsafeModelError`. ``matches(obj)`` says whether the flavor is picked
    automatically for ``obj`` (explicit-only flavors return False).
    """

    name: str
    save: Callable[[Any], tuple[bytes, dict[str, Any]]]
    load: Callable[[bytes, dict[str, Any], LoadPolicy], Any]
    matches: Callable[[Any], bool] = lambda obj: False
    packages: Sequence[str] = ()  # distributions whose versions are recorded
    explicit_only: bool = False
    description: str = ""
    extensions: tuple[str, ...] = field(default=())


_FLAVORS: dict[str, Flavor] = {}
_entry_points_loaded = False


def register_flavor(flavor: Flavor, *, replace: bool = False) -> None:
    if flavor.name in _FLAVORS and not replace:
        raise UsageError(f"a model flavor named {flavor.name!r} is already registered")
    _FLAVORS[flavor.name] = flavor


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            flavor = ep.load()
            if callable(flavor) and not isinstance(flavor, Flavor):
                flavor = flavor()
            if isinstance(flavor, Flavor) and flavor.name not in _FLAVORS:
                _FLAVORS[flavor.name] = flavor
        except Exception as e:  # noqa: BLE001 - a broken plug-in must not break us
            log.warning("model flavor plug-in %r could not be loaded: %s", ep.name, e)


def get_flavor(name: str) -> Flavor:
    _load_entry_points()
    try:
        return _FLAVORS[name]
    except KeyError:
        raise UsageError(
            f"unknown model flavor {name!r}; flavors: {', '.join(sorted(_FLAVORS))}"
        ) from None


def flavors() -> list[str]:
    _load_entry_points()
    return sorted(_FLAVORS)


def pick_flavor(obj: Any, name: str | None = None) -> Flavor:
    """The flavor for ``obj``: the one named, else the first that matches."""
    if name is not None:
        return get_flavor(name)
    _load_entry_points()
    for flavor in _FLAVORS.values():
        if not flavor.explicit_only and flavor.matches(obj):
            return flavor
    auto = ", ".join(n for n, f in sorted(_FLAVORS.items()) if not f.explicit_only)
    raise UsageError(
        f"no model flavor knows how to save a {type(obj).__module__}.{type(obj).__qualname__} "
        f"safely (automatic flavors: {auto}). For other objects pass flavor='pickle': "
        "such a version can only be loaded after it is marked trusted (an audited action)"
    )


# -- sklearn via skops -------------------------------------------------------------------
def _is_sklearn(obj: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(obj, BaseEstimator)


#: scikit-learn's own compiled tree structures and numpy's dtype. skops lists them as
#: "untrusted" only because they are not plain Python classes; rebuilding one takes
#: numpy arrays (or a dtype string) and calls no user-chosen function, so they are
#: vetted here once instead of asking every user to trust every random forest.
#: Anything else still needs explicit trust.
VETTED_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})


def _skops_save(obj: Any) -> tuple[bytes, dict[str, Any]]:
    import skops.io as sio

    try:
        data = sio.dumps(obj)
    except Exception as e:  # noqa: BLE001 - skops raises many types for odd objects
        raise UsageError(
            f"skops cannot save this {type(obj).__name__}: {e}; for objects skops does "
            "not support, pass flavor='pickle' (loading will then require trust)"
        ) from None
    data = _canonical_skops(data)
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - VETTED_TYPES)
    unloadable = [t for t in untrusted if "<lambda>" in t or "<locals>" in t]
    if unloadable:
        raise UsageError(
            f"this model refers to {', '.join(unloadable)}: a lambda or a function defined "
            "inside another function cannot be found again when the model is loaded, so "
            "the version could never be used. Define it with `def` at the top level of an "
            "importable module (not the notebook), then register again"
        )
    return data, {"format": "skops", "untrusted_types": untrusted}


def _canonical_skops(data: bytes) -> bytes:
    """The same model, byte for byte the same file.

    skops names its array members and object references by ``id()`` (memory
    addresses) and stamps zip entries with the current time, so saving one model twice
    gives two hashes, and ``mlops reproduce`` could never say "identical model". Ids
    are renumbered in order of first appearance in ``schema.json`` (the traversal
    order is the estimator's own), members sorted, timestamps fixed. If the file is not
    shaped as expected, the original bytes are kept: canonical form is a nicety,
    never a reason to fail a save.
    """
    import io
    import json
    import zipfile

    try:
        zin = zipfile.ZipFile(io.BytesIO(data))
        doc = json.loads(zin.read("schema.json"))
        ids: dict[int, int] = {}

        def renumber(old: int) -> int:
            return ids.setdefault(old, len(ids) + 1)

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "__id__" and isinstance(v, int):
                        node[k] = renumber(v)
                    elif k == "file" and isinstance(v, str) and v.endswith(".npy") and v[:-4].isdigit():
                        node[k] = f"{renumber(int(v[:-4]))}.npy"
                    else:
                        walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(doc)
        members: dict[str, bytes] = {"schema.json": json.dumps(doc, indent=2).encode()}
        for name in zin.namelist():
            if name == "schema.json":
                continue
            stem = name[:-4]
            if not (name.endswith(".npy") and stem.isdigit() and int(stem) in ids):
                return data  # a member we do not understand: keep skops' own bytes
            members[f"{ids[int(stem)]}.npy"] = zin.read(name)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zout:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zout.writestr(info, members[name])
        return out.getvalue()
    except (zipfile.BadZipFile, KeyError, ValueError):
        return data


def _skops_load(data: bytes, meta: dict[str, Any], policy: LoadPolicy) -> Any:
    import skops.io as sio

    try:
        untrusted = sorted(sio.get_untrusted_types(data=data))
    except Exception as e:  # noqa: BLE001 - not a skops file at all
        raise UnsafeModelError(
            f"{policy.ref or 'model'}: not a readable skops file ({type(e).__name__}); "
            "nothing was loaded"
        ) from None
    allowed = set(policy.trusted_types) | VETTED_TYPES
    if policy.trusted_version:
        # the bytes were hash-verified, so these are exactly the types recorded (and
        # reviewed) when the version was marked trusted
        allowed |= set(meta.get("untrusted_types") or ())
    refused = [t for t in untrusted if t not in allowed]
    if refused:
        raise UnsafeModelError(
            f"{policy.ref or 'model'} needs types that are not trusted: {', '.join(refused)}. "
            "Nothing was loaded. If you trust them, pass trusted_types=[…] to load, or mark "
            "the version trusted with mj.models.trust(ref, reason=…) (audited)"
        )
    try:
        return sio.loads(data, trusted=untrusted or None)
    except (AttributeError, ModuleNotFoundError) as e:
        missing = [t for t in untrusted if t.startswith("__main__.")]
        where = (
            f"{', '.join(missing)} was defined in the notebook or script that registered it"
            if missing else f"it needs code that is not importable here ({e})"
        )
        raise UnsafeModelError(
            f"{policy.ref or 'model'} cannot be loaded: {where}. Move that code into an "
            "importable module, install it where the model is loaded, and register again"
        ) from None
    except Exception as e:  # noqa: BLE001
        raise UnsafeModelError(
            f"{policy.ref or 'model'}: skops refused the file ({type(e).__name__}: {e})"
        ) from None


# -- explicit opt-in: pickle ----------------------------------------------------------
def _pickle_save(obj: Any) -> tuple[bytes, dict[str, Any]]:
    try:
        import cloudpickle as pk

        fmt = "cloudpickle"
    except ImportError:  # pragma: no cover
        import pickle as pk  # noqa: S403 - explicit opt-in flavor, loads gated by trust

        fmt = "pickle"
    buf = io.BytesIO()
    pk.dump(obj, buf)
    return buf.getvalue(), {"format": fmt, "type": f"{type(obj).__module__}.{type(obj).__qualname__}"}


def _pickle_load(data: bytes, meta: dict[str, Any], policy: LoadPolicy) -> Any:
    if not policy.trusted_version:
        raise UnsafeModelError(
            f"{policy.ref or 'model'} is a pickle: loading it runs arbitrary code, so it is "
            "allowed only for a version marked trusted. Review it, then run "
            "mj.models.trust(ref, reason=…) (audited). Nothing was loaded"
        )
    import pickle  # noqa: S403 - gated by the audited trust flag above

    return pickle.loads(data)  # noqa: S301 - cloudpickle output loads with pickle


register_flavor(Flavor(
    name="sklearn", save=_skops_save, load=_skops_load, matches=_is_sklearn,
    packages=("scikit-learn", "skops", "numpy", "scipy"), extensions=(".skops",),
    description="scikit-learn estimators and pipelines, saved with skops",
))
register_flavor(Flavor(
    name="pickle", save=_pickle_save, load=_pickle_load, explicit_only=True,
    packages=("cloudpickle",), extensions=(".pkl",),
    description="any Python object (cloudpickle); loads only when the version is trusted",
))

__all__ = ["Flavor", "LoadPolicy", "register_flavor", "get_flavor", "flavors", "pick_flavor"]
