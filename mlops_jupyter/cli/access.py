"""``mlops access setup | grant USER ROLE | revoke USER ROLE | list | whoami``."""

from __future__ import annotations

import argparse
from typing import Any

from mlops_jupyter.cli.output import print_json, print_table

ROLES = ("reader", "contributor", "approver", "admin")


def register(sub: Any) -> None:
    p = sub.add_parser("access", help="who may do what in a PostgreSQL store (roles enforced by the database)")
    acc = p.add_subparsers(dest="access_command", metavar="ACTION", required=True)
    q = acc.add_parser("setup", help="create or refresh the store's roles, GRANTs and triggers")
    q.set_defaults(func=cmd_setup)
    for verb, helptext in (("grant", "give a database login a role"), ("revoke", "take a role back")):
        q = acc.add_parser(verb, help=helptext)
        q.add_argument("user", help="a PostgreSQL login name")
        q.add_argument("role", choices=ROLES)
        q.set_defaults(func=cmd_grant if verb == "grant" else cmd_revoke)
    q = acc.add_parser("list", help="every login with a role in this store")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)
    q = acc.add_parser("whoami", help="the identity the store records for you")
    q.set_defaults(func=cmd_whoami)


def cmd_setup(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking import access

    names = access.setup()
    print_table(["role", "database role"], sorted(names.items(), key=lambda kv: ROLES.index(kv[0])))
    return 0


def cmd_grant(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking import access

    group = access.grant(args.user, args.role)
    print(f"granted {args.role} ({group}) to {args.user}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking import access

    group = access.revoke(args.user, args.role)
    print(f"revoked {args.role} ({group}) from {args.user}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking import access

    rows = access.list_access()
    if args.json:
        print_json(rows)
    else:
        print_table(["user", "role"], [(r["user"], r["role"]) for r in rows])
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    from mlops_jupyter.tracking import access

    who = access.whoami()
    print(who if who is not None else "(SQLite store: single user, no database identity)")
    return 0
