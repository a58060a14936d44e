"""``mlops dataset add|list|show|diff|load|validate|lineage``.

Exit status: 0 success, 1 failed validation, 2 bad usage (unknown ref, bad path...).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from mlops_jupyter.cli.output import print_json, print_kv, print_table


def register(sub: Any) -> None:
    ds = sub.add_parser("dataset", help="version, inspect, compare, load and validate datasets")
    acts = ds.add_subparsers(dest="action", metavar="ACTION")
    ds.set_defaults(func=lambda args: (ds.print_help(), 2)[1])

    p = acts.add_parser("add", help="version a file or folder (CSV/Parquet files are profiled)")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    p.add_argument("--description")
    p.add_argument("--key", help="comma-separated key columns (tabular files)")
    p.add_argument("--table", action="store_true", help="read the file as a table and version the DataFrame")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_add)

    p = acts.add_parser("list", help="datasets, or the versions of one")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = acts.add_parser("show", help="a version: metadata, schema and profile")
    p.add_argument("ref")
    p.add_argument("--json", action="store_true", help="print the full record as JSON")
    p.add_argument("--html", metavar="FILE", help="write the EDA profile as a static HTML page")
    p.set_defaults(func=cmd_show)

    p = acts.add_parser("diff", help="schema, statistics and rows changed between two versions")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--key", help="comma-separated key columns")
    p.add_argument("--no-rows", action="store_true", help="schema and statistics only")
    p.set_defaults(func=cmd_diff)

    p = acts.add_parser("load", help="write a version to a path (checkout)")
    p.add_argument("ref")
    p.add_argument("--out", required=True, help="file (.csv/.parquet for DataFrames) or folder")
    p.set_defaults(func=cmd_load)

    p = acts.add_parser("validate", help="check a data file against a version; exit 1 on violations")
    p.add_argument("data", help="CSV/TSV/Parquet/Feather/JSON file")
    p.add_argument("ref")
    p.add_argument("--tolerance", type=float)
    p.add_argument("--allow-extra", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = acts.add_parser("lineage", help="runs and models that used a version")
    p.add_argument("ref")
    p.set_defaults(func=cmd_lineage)


def _keys(text: str | None) -> list[str] | None:
    return [k.strip() for k in text.split(",") if k.strip()] if text else None


def cmd_add(args: argparse.Namespace) -> int:
    from mlops_jupyter import datasets
    from mlops_jupyter.datasets.ingest import read_table_file

    obj: Any = read_table_file(args.path) if args.table else args.path
    v = datasets.add(
        obj, name=args.name, description=args.description, key=_keys(args.key),
        progress=False if args.no_progress else None,
    )
    print(f"{v.ref} {'created' if v.created else 'unchanged (already stored)'} {v.digest}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from mlops_jupyter import datasets

    df = datasets.list_datasets(args.name)
    if args.json:
        print(df.to_json(orient="records", date_format="iso"))
        return 0
    cols = (["name", "versions", "latest", "kind", "rows", "columns", "digest", "updated"]
            if args.name is None else
            ["ref", "digest", "kind", "rows", "columns", "size", "created", "creator", "description"])
    print_table(cols, [[_cell(x) for x in r] for r in df[cols].itertuples(index=False)])
    return 0


def _cell(v: Any) -> Any:
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M")
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return v


def cmd_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from mlops_jupyter import datasets

    v = datasets.show(args.ref)
    if args.html:
        Path(args.html).write_text(
            "<!doctype html><meta charset='utf-8'><title>dataset</title>" + v._repr_html_(),
            encoding="utf-8",
        )
    if args.json:
        print_json(asdict(v))
        return 0
    print_kv([
        ("version", v.ref), ("kind", v.kind), ("content hash", v.digest),
        ("shape", f"{v.rows} x {v.columns}" if v.rows is not None else None),
        ("size", v.size), ("source", v.source), ("creator", v.creator),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.created_at))),
        ("parent", f"{v.name}@v{v.parent_version}" if v.parent_version else None),
        ("description", v.description),
    ])
    cols = (v.profile or {}).get("columns", [])
    if cols:
        print()
        print_table(["column", "dtype", "nulls", "distinct", "min", "max", "mean"], [
            [c["name"], c["dtype"], c["nulls"], c.get("n_unique"), c.get("min"), c.get("max"), c.get("mean")]
            for c in cols
        ])
    if args.html:
        print(f"\nprofile written to {args.html}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from mlops_jupyter import datasets

    d = datasets.diff(args.a, args.b, key=_keys(args.key), rows=not args.no_rows)
    print(d.summary())
    if len(d.schema_changes):
        print("\nschema changes")
        print_table(["column", "change", "before", "after"], d.schema_changes.itertuples(index=False))
    if len(d.stats):
        print("\nstatistic changes")
        print_table(["column", "statistic", "before", "after", "change"], d.stats.itertuples(index=False))
    if d.files is not None and len(d.files):
        print("\nfiles")
        print_table(list(d.files.columns), d.files.itertuples(index=False))
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from mlops_jupyter import datasets
    from mlops_jupyter._files import write_atomic
    from mlops_jupyter.errors import UsageError

    v = datasets.get(args.ref)
    out = Path(args.out).expanduser()
    if v.kind == "dataframe":
        suffix = out.suffix.lower()
        if suffix not in (".parquet", ".pq", ".csv"):
            raise UsageError(f"--out for a DataFrame version must end in .parquet or .csv, got {args.out!r}")
        _check_parent(out)
        df = datasets.load(v)
        if suffix == ".csv":
            index = any(n is not None for n in df.index.names)
            write_atomic(out, lambda tmp: df.to_csv(tmp, index=index), overwrite=True)
        else:
            write_atomic(out, lambda tmp: df.to_parquet(tmp), overwrite=True)
    elif v.kind == "file":
        target = out / Path(v.source or v.digest).name if out.is_dir() else out
        _check_parent(target)
        src = datasets.load(v)
        write_atomic(target, lambda tmp: shutil.copyfile(src, tmp), overwrite=True)
        out = target
    else:
        _check_parent(out)
        try:
            datasets.load(v, dest=out)
        except OSError as e:
            raise UsageError(f"cannot write {str(out)!r}: {e.strerror or type(e).__name__}") from None
    print(f"{v.ref} -> {out}")
    return 0


def _check_parent(out: Path) -> None:
    from mlops_jupyter.errors import UsageError

    if not out.parent.is_dir():
        raise UsageError(f"cannot write {str(out)!r}: folder {str(out.parent)!r} does not exist")


def cmd_validate(args: argparse.Namespace) -> int:
    from mlops_jupyter import datasets
    from mlops_jupyter.datasets.ingest import read_table_file

    kwargs: dict[str, Any] = {"allow_extra": args.allow_extra}
    if args.tolerance is not None:
        kwargs["tolerance"] = args.tolerance
    report = datasets.validate(read_table_file(args.data), args.ref, **kwargs)
    if args.json:
        print(report.violations.to_json(orient="records"))
    else:
        print(("OK: " if report.ok else "FAILED: ") + report.summary())
        if not report.ok:
            print_table(["column", "kind", "count", "message"],
                        report.violations[["column", "kind", "count", "message"]].itertuples(index=False),
                        max_width=90)
    return 0 if report.ok else 1


def cmd_lineage(args: argparse.Namespace) -> int:
    from mlops_jupyter import datasets

    df = datasets.lineage(args.ref)
    if df.empty:
        print(f"no run or model used {args.ref} yet")
        return 0
    print_table(["kind", "id", "name", "detail", "status", "role", "at"],
                [[_cell(x) for x in r] for r in df.itertuples(index=False)])
    return 0
