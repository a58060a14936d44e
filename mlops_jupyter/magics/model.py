"""``%mlops model …`` and ``%mlops serve …`` over :mod:`mlops_jupyter.models` and
:mod:`mlops_jupyter.serving`. Parse, call the domain, return what to display."""

from __future__ import annotations

from typing import Any

from mlops_jupyter.magics.args import UsageError, VerbParser, parse_kv
from mlops_jupyter.magics.registry import Verb

ACTIONS = {
    "register": "%mlops model register [VAR] --name NAME [--dataset REF ...] [--signature VAR] "
                "[--description TEXT] [--tag k=v ...] [--flavor pickle] [--no-run]",
    "list": "%mlops model list [NAME]",
    "show": "%mlops model show REF",
    "promote": "%mlops model promote REF ALIAS [--reason TEXT] [--expect vN|none] [--force]",
    "demote": "%mlops model demote NAME ALIAS [--reason TEXT] [--expect vN]",
    "load": "%mlops model load REF --as VAR [--trust-type TYPE ...]",
    "history": "%mlops model history NAME [--alias ALIAS [--at WHEN]]",
    "trust": "%mlops model trust REF --reason TEXT [--revoke]",
    "rules": "%mlops model rules NAME ALIAS [--require COND ...] [--beat METRIC] [--clear]",
}
SERVE_USAGE = ("%mlops serve REF [REF ...] [--port N] [--host H] [--log-inputs DATASET] | %mlops serve status | "
               "%mlops serve stop [--port N]")

#: port -> running BackgroundServer started from this kernel
_servers: dict[int, Any] = {}


def _parser(action: str) -> VerbParser:
    p = VerbParser("model", usage=ACTIONS[action], add_help=False)
    if action == "register":
        p.add_argument("var", nargs="?", help="the model variable (default: the last model fitted in a tracked cell)")
        p.add_argument("--name", required=True)
        p.add_argument("--dataset", action="append", help="dataset version it was trained on")
        p.add_argument("--signature", help="a variable holding the training inputs")
        p.add_argument("--description")
        p.add_argument("--tag", action="append", metavar="k=v")
        p.add_argument("--flavor", help="a flavor name, e.g. pickle (explicit opt-in)")
        p.add_argument("--no-run", action="store_true", help="do not link the active/last run")
    elif action == "list":
        p.add_argument("name", nargs="?")
    elif action in ("show",):
        p.add_argument("ref")
    elif action == "promote":
        p.add_argument("ref")
        p.add_argument("alias")
        p.add_argument("--reason")
        p.add_argument("--expect", help="the version you expect holds the alias now (vN, or none)")
        p.add_argument("--force", action="store_true", help="skip promotion rules (audited)")
    elif action == "demote":
        p.add_argument("name")
        p.add_argument("alias")
        p.add_argument("--reason")
        p.add_argument("--expect")
    elif action == "load":
        p.add_argument("ref")
        p.add_argument("--as", dest="var", required=True)
        p.add_argument("--trust-type", action="append", default=[], help="accept this skops type for this load")
    elif action == "history":
        p.add_argument("name")
        p.add_argument("--alias")
        p.add_argument("--at", help="date-time: which version held --alias then")
    elif action == "trust":
        p.add_argument("ref")
        p.add_argument("--reason", required=True)
        p.add_argument("--revoke", action="store_true")
    elif action == "rules":
        p.add_argument("name")
        p.add_argument("alias")
        p.add_argument("--require", action="append", metavar="COND", help="e.g. auc>=0.8")
        p.add_argument("--beat", metavar="METRIC", help="must beat the holder (-METRIC: lower is better)")
        p.add_argument("--clear", action="store_true")
    return p


def _expect(text: str | None) -> Any:
    from mlops_jupyter.models.registry import ANY

    if text is None:
        return ANY
    return None if text.lower() in ("none", "unset") else text


def _ns(shell: Any) -> dict[str, Any]:
    return getattr(shell, "user_ns", {}) if shell is not None else {}


def _model(shell: Any, argv: list[str], cell: str | None) -> Any:
    from mlops_jupyter import models

    if not argv or argv[0] not in ACTIONS:
        got = f" {argv[0]!r}" if argv else ""
        raise UsageError(f"%mlops model: unknown action{got}; use one of {', '.join(ACTIONS)} "
                         "(see %mlops help model)")
    action, a = argv[0], _parser(argv[0]).parse(argv[1:])
    ns = _ns(shell)
    if action == "register":
        obj = _register_target(ns, a.var)
        sig = None
        if a.signature is not None:
            if a.signature not in ns:
                raise UsageError(f"%mlops model register: no notebook variable named {a.signature!r}")
            sig = ns[a.signature]
        return models.register(
            obj, a.name, run=False if a.no_run else None, dataset=a.dataset, signature=sig,
            description=a.description, tags=parse_kv(a.tag, "a tag"), flavor=a.flavor,
        )
    if action == "list":
        return models.list_models() if a.name is None else _versions_table(models.versions(a.name))
    if action == "show":
        return models.show(a.ref)
    if action == "promote":
        return models.promote(a.ref, a.alias, reason=a.reason, expected_current=_expect(a.expect),
                              force=a.force)
    if action == "demote":
        return models.demote(a.name, a.alias, reason=a.reason, expected_current=_expect(a.expect))
    if action == "load":
        if not a.var.isidentifier():
            raise UsageError(f"%mlops model load: --as needs a variable name, got {a.var!r}")
        mv = models.get(a.ref)
        ns[a.var] = models.load(mv, trusted_types=a.trust_type)
        print(f"{a.var} = {mv.ref} ({mv.flavor}, hash verified)")
        return None
    if action == "history":
        if a.at is not None:
            if not a.alias:
                raise UsageError("%mlops model history: --at needs --alias (e.g. --alias production)")
            got = models.version_at(f"{a.name}@{a.alias}", a.at)
            print(f"{a.name}@{a.alias} at {a.at}: {got.ref if got else 'not set'}")
            return got
        return models.history(a.name, alias=a.alias)
    if action == "trust":
        return models.trust(a.ref, reason=a.reason, trusted=not a.revoke)
    # rules
    if a.clear or (not a.require and not a.beat):
        if not a.clear:
            return models.rules(a.name).get(a.alias.lower(), {})
        return models.set_rules(a.name, a.alias)
    return models.set_rules(a.name, a.alias, require=a.require, beat=a.beat)


def _register_target(ns: dict[str, Any], var: str | None) -> Any:
    if var is not None:
        if var not in ns:
            raise UsageError(f"%mlops model register: no notebook variable named {var!r}")
        return ns[var]
    try:
        from mlops_jupyter.tracking import autolog

        seen = autolog.last_fitted()
    except (ImportError, AttributeError):
        seen = None
    if seen is None:
        raise UsageError("%mlops model register: name the model variable (no model was fitted "
                         "in a tracked cell yet)")
    return seen[0]


def _versions_table(vs: list[Any]) -> Any:
    import pandas as pd

    return pd.DataFrame([{
        "ref": v.ref, "flavor": v.flavor, "aliases": ", ".join(v.aliases), "trusted": v.trusted,
        "run": (v.run_id or "")[:8], "created_at": pd.Timestamp(v.created_at, unit="s", tz="UTC"),
        **{f"metrics.{k}": m for k, m in sorted(v.metrics.items())},
    } for v in vs])


def _serve(shell: Any, argv: list[str], cell: str | None) -> Any:
    p = VerbParser("serve", usage=SERVE_USAGE, add_help=False)
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--log-inputs", metavar="DATASET", default=None)
    a = p.parse(argv)
    if a.refs == ["status"]:
        live = {port: s for port, s in _servers.items() if s.running}
        if not live:
            print("no model server running in this kernel")
            return None
        return [s.status() for s in live.values()]
    if a.refs == ["stop"]:
        ports = [a.port] if a.port is not None else list(_servers)
        if not ports or any(pt not in _servers for pt in ports):
            raise UsageError(f"%mlops serve stop: no server on port {a.port}" if a.port else
                             "%mlops serve stop: no model server running in this kernel")
        for pt in ports:
            _servers.pop(pt).stop()
            print(f"stopped the model server on port {pt}")
        return None
    from mlops_jupyter.serving import BackgroundServer

    port = 8080 if a.port is None else a.port
    if port in _servers and _servers[port].running:
        raise UsageError(f"%mlops serve: a server from this kernel already listens on port {port}; "
                         "%mlops serve stop --port N first")
    srv = BackgroundServer(a.refs, host=a.host, port=port, log_inputs=a.log_inputs).start()
    _servers[srv.port] = srv
    print(f"serving {', '.join(a.refs)} at {srv.url}  (POST {srv.url}/v1/models/NAME/REF/predict; "
          "%mlops serve stop)")
    return None


VERBS = {
    "model": Verb(
        name="model",
        summary="register, inspect, promote (audited), trust and load models",
        usage="\n".join(ACTIONS.values()),
        handler=_model,
        examples=[
            "%mlops model register clf --name churn --dataset churn@v1",
            "%mlops model promote churn@v2 production --reason 'beats v1 on auc'",
            "%mlops model rules churn production --require 'auc>=0.8' --beat auc",
            "%mlops model history churn --alias production --at 2026-03-01",
            "%mlops model load churn@production --as model",
        ],
    ),
    "serve": Verb(
        name="serve",
        summary="serve models over REST from this kernel (background thread)",
        usage=SERVE_USAGE,
        handler=_serve,
        examples=["%mlops serve churn@production --port 8080", "%mlops serve status",
                  "%mlops serve stop"],
    ),
}
