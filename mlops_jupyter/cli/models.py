"""``mlops model list|show|register|promote|demote|history|trust|rules|export`` and
``mlops serve``. Exit status: 0 success, 1 refused (rules, conflict, integrity), 2 bad usage."""

from __future__ import annotations

import argparse
import time
from typing import Any

from mlops_jupyter.cli.output import print_json, print_kv, print_table


def register(sub: Any) -> None:
    m = sub.add_parser("model", help="the model registry: list, show, promote, trust, export")
    acts = m.add_subparsers(dest="action", metavar="ACTION")
    m.set_defaults(func=lambda args: (m.print_help(), 2)[1])

    p = acts.add_parser("list", help="models, or the versions of one")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = acts.add_parser("show", help="a version's card: aliases, metrics, signature, lineage, history")
    p.add_argument("ref")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = acts.add_parser("register", help="register a skops file (its types are checked first)")
    p.add_argument("path", help="a .skops file")
    p.add_argument("--name", required=True)
    p.add_argument("--run", help="the run that trained it")
    p.add_argument("--dataset", action="append", help="dataset version it was trained on")
    p.add_argument("--description")
    p.add_argument("--trust-type", action="append", default=[], help="accept this skops type")
    p.set_defaults(func=cmd_register)

    p = acts.add_parser("promote", help="move an alias to a version (compare-and-set, audited)")
    p.add_argument("ref")
    p.add_argument("alias")
    p.add_argument("--reason")
    p.add_argument("--expect", help="version expected to hold the alias now (vN or none)")
    p.add_argument("--force", action="store_true", help="skip promotion rules (audited)")
    p.set_defaults(func=cmd_promote)

    p = acts.add_parser("demote", help="remove an alias (audited)")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("--reason")
    p.add_argument("--expect")
    p.set_defaults(func=cmd_demote)

    p = acts.add_parser("history", help="the audit log; --alias A --at WHEN: who held A then")
    p.add_argument("name")
    p.add_argument("--alias")
    p.add_argument("--at")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)

    p = acts.add_parser("trust", help="mark a version trusted (audited; needed for pickle flavor)")
    p.add_argument("ref")
    p.add_argument("--reason", required=True)
    p.add_argument("--revoke", action="store_true")
    p.set_defaults(func=cmd_trust)

    p = acts.add_parser("rules", help="show or set promotion rules for an alias")
    p.add_argument("name")
    p.add_argument("alias", nargs="?")
    p.add_argument("--require", action="append", metavar="COND")
    p.add_argument("--beat", metavar="METRIC")
    p.add_argument("--clear", action="store_true")
    p.set_defaults(func=cmd_rules)

    p = acts.add_parser("export", help="write a version's verified model file to a path")
    p.add_argument("ref")
    p.add_argument("dest", help="a file path, or a folder to write NAME-vN.skops into")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="serve models over REST (FastAPI + uvicorn)")
    p.add_argument("refs", nargs="+", metavar="REF", help="e.g. churn@production")
    p.add_argument("--host", default="127.0.0.1",
                   help="beyond loopback only with MLOPS_SERVE_TOKEN set")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-body", type=int, default=None, help="bytes (default 1 MiB)")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--log-inputs", metavar="DATASET",
                   help="keep served inputs and predictions as versions of this dataset")
    p.add_argument("--workers", type=int, default=1, help="processes behind the one port (default 1)")
    p.add_argument("--token-file", metavar="PATH",
                   help="tokens with scopes, one 'TOKEN SCOPES' a line; re-read when it changes "
                        "(also MLOPS_SERVE_TOKEN_FILE)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer this Host header (repeatable; '*' for any)")
    p.add_argument("--header-timeout", type=float, default=5.0, metavar="S",
                   help="seconds a request's headers may take to arrive (default 5)")
    p.add_argument("--batch-wait-ms", type=float, default=2.0, metavar="MS",
                   help="adaptive batching: longest wait for concurrent requests (default 2)")
    p.add_argument("--batch-rows", type=int, default=512, metavar="N",
                   help="adaptive batching: most rows per model call; 1 turns batching off")
    p.set_defaults(func=cmd_serve)


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _expect(text: str | None) -> Any:
    from mlops_jupyter.models.registry import ANY

    if text is None:
        return ANY
    return None if text.lower() in ("none", "unset") else text


def cmd_list(args: argparse.Namespace) -> int:
    from mlops_jupyter import models

    if args.name is None:
        df = models.list_models()
        if args.json:
            print(df.to_json(orient="records", date_format="iso"))
            return 0
        print_table(["name", "versions", "latest", "aliases"],
                    [[r.name, r.versions, f"v{r.latest}", r.aliases] for r in df.itertuples()])
        return 0
    vs = models.versions(args.name)
    if args.json:
        print_json([models.show(v).to_dict() for v in vs])
        return 0
    print_table(["ref", "flavor", "aliases", "trusted", "run", "created", "metrics"], [
        [v.ref, v.flavor, ",".join(v.aliases), "yes" if v.trusted else "", (v.run_id or "")[:8],
         _when(v.created_at), " ".join(f"{k}={m:.4g}" for k, m in sorted(v.metrics.items())[:4])]
        for v in vs
    ])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from mlops_jupyter import models

    d = models.show(args.ref).to_dict()
    if args.json:
        print_json(d)
        return 0
    run = d["lineage"]["run"]
    print_kv([
        ("model", d["ref"]), ("aliases", ", ".join(d["aliases"])), ("flavor", d["flavor"]),
        ("trusted", d["trusted"]), ("digest", d["digest"]), ("created", _when(d["created_at"])),
        ("creator", d["creator"]), ("description", d["description"]),
        ("run", None if run is None else f"{run['id']} ({run['name'] or ''})"),
        ("datasets", ", ".join(x["ref"] for x in d["lineage"]["datasets"])),
    ])
    if d["metrics"]:
        print("\nmetrics")
        print_kv(sorted(d["metrics"].items()))
    if d["signature"]:
        print("\nsignature")
        print_table(["column", "type", "nullable"], [
            [c["name"], c["type"], "yes" if c["nullable"] else ""] for c in d["signature"]["columns"]])
    if d["history"]:
        print("\nhistory")
        print_table(["at", "user", "action", "alias", "from", "to", "reason"], [
            [_when(h["at"]), h["user"], h["action"], h["alias"], h["from_version"], h["to_version"],
             h["reason"]] for h in d["history"]])
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlops_jupyter import models
    from mlops_jupyter.errors import UsageError
    from mlops_jupyter.models.flavors import LoadPolicy, get_flavor

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"no such file: {args.path!r}")
    # loaded through the same trusted-type check as any registered model
    obj = get_flavor("sklearn").load(path.read_bytes(), {}, LoadPolicy(
        trusted_types=tuple(args.trust_type), ref=str(path.name)))
    mv = models.register(obj, args.name, run=args.run or False, dataset=args.dataset,
                         description=args.description)
    print(f"registered {mv.ref} ({mv.flavor}, {mv.blob[:12]})")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from mlops_jupyter import models

    mv = models.promote(args.ref, args.alias, reason=args.reason,
                        expected_current=_expect(args.expect), force=args.force)
    print(f"{mv.name}@{args.alias.lower()} -> {mv.ref}")
    return 0


def cmd_demote(args: argparse.Namespace) -> int:
    from mlops_jupyter import models

    ev = models.demote(args.name, args.alias, reason=args.reason, expected_current=_expect(args.expect))
    print(f"removed {ev.model}@{ev.alias} (was v{ev.from_version})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from mlops_jupyter import models
    from mlops_jupyter.errors import UsageError

    if args.at is not None:
        if not args.alias:
            raise UsageError("--at needs --alias (e.g. --alias production)")
        got = models.version_at(f"{args.name}@{args.alias}", args.at)
        print(got.ref if got else "not set")
        return 0
    evs = models.events(args.name, args.alias)
    if args.json:
        from dataclasses import asdict

        print_json([asdict(e) for e in evs])
        return 0
    print_table(["at", "user", "action", "alias", "from", "to", "reason"], [
        [_when(e.at), e.user, e.action, e.alias, e.from_version and f"v{e.from_version}",
         e.to_version and f"v{e.to_version}", e.reason] for e in evs])
    return 0


def cmd_trust(args: argparse.Namespace) -> int:
    from mlops_jupyter import models

    ev = models.trust(args.ref, reason=args.reason, trusted=not args.revoke)
    print(f"{ev.model}@v{ev.to_version}: {ev.action}ed")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from mlops_jupyter import models

    if args.alias is None or not (args.require or args.beat or args.clear):
        rules = models.rules(args.name)
        print_json(rules if args.alias is None else rules.get(args.alias.lower(), {}))
        return 0
    print_json(models.set_rules(args.name, args.alias, require=args.require, beat=args.beat))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mlops_jupyter.models.registry import export

    mv, dest = export(args.ref, args.dest, overwrite=args.force,
                      exists_hint="pass --force to replace it")
    print(f"wrote {mv.ref} to {dest} ({dest.stat().st_size} bytes, hash verified)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from mlops_jupyter.serving import DEFAULT_MAX_BODY, build
    from mlops_jupyter.serving.server import close_log

    opts = {"host": args.host, "port": args.port, "log_level": args.log_level,
            "max_body": args.max_body or DEFAULT_MAX_BODY, "log_inputs": args.log_inputs,
            "token_file": args.token_file, "allowed_hosts": args.allow_host,
            "header_timeout": args.header_timeout, "batch_wait": args.batch_wait_ms / 1000,
            "batch_rows": args.batch_rows}
    where = (f"serving {', '.join(args.refs)} on http://{args.host}:{args.port} "
             "(POST /v1/models/NAME/REF/predict; Ctrl-C stops)")
    if args.workers != 1:
        from mlops_jupyter.serving.server import serve_workers

        print(f"{where} with {args.workers} workers", flush=True)
        serve_workers(args.refs, workers=args.workers, **opts)
        return 0
    server = build(args.refs, **opts)
    print(where, flush=True)
    try:
        server.run()
    finally:
        ref = close_log(server)
        if ref:
            print(f"served inputs written to {ref}", flush=True)
    return 0
