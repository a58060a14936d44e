"""``%mlops drift REFERENCE CURRENT_VAR [--columns a,b] [--threshold X]`` over mj.drift."""

from __future__ import annotations

from typing import Any

from mlops_jupyter.magics.args import UsageError, VerbParser
from mlops_jupyter.magics.registry import Verb


def _parser() -> VerbParser:
    p = VerbParser("drift", description="compare current data with a reference dataset or model")
    p.add_argument("reference", help="dataset ref (churn@v1), model:churn@production, or a DataFrame variable")
    p.add_argument("current", help="a DataFrame variable, a dataset ref, or a CSV/Parquet path")
    p.add_argument("--columns", help="comma-separated columns to compare (default: all shared)")
    p.add_argument("--threshold", type=float, help="share of drifted columns that makes the dataset drifted (default: any column, Holm-corrected)")
    p.add_argument("--method", default="auto", help="auto, ks, psi, wasserstein, chi2, jensenshannon")
    p.add_argument("--label", help="label column in the current data (model references: performance change)")
    p.add_argument("--no-save", action="store_true", help="do not keep the report in the store")
    return p


def _value(shell: Any, word: str) -> Any:
    """A notebook variable when one has that name, else the word itself (a ref or path)."""
    ns = getattr(shell, "user_ns", {}) if shell is not None else {}
    return ns[word] if word.isidentifier() and word in ns else word


def _drift(shell: Any, argv: list[str], cell: str | None) -> Any:
    import mlops_jupyter as mj

    args = _parser().parse(argv)
    current = _value(shell, args.current)
    if isinstance(current, str) and args.current.isidentifier() and "@" not in current and "/" not in current:
        raise UsageError(
            f"%mlops drift: {args.current!r} is not a variable in the notebook, a dataset "
            "ref (name@v1) or a path"
        )
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    return mj.drift(
        _value(shell, args.reference), current, columns=columns, method=args.method,
        threshold=args.threshold, label=args.label, save=False if args.no_save else None,
    )


VERBS = {
    "drift": Verb(
        name="drift",
        summary="drift report: current data against a reference dataset or model",
        usage="%mlops drift REFERENCE CURRENT_VAR [--columns a,b] [--threshold X] [--label y]",
        handler=_drift,
        examples=[
            "%mlops drift churn@v1 new_df",
            "%mlops drift model:churn@production new_df --label churned",
            "%mlops drift train_df new_df --columns age,income --threshold 0.3",
        ],
    )
}
