"""``%mlops features [list|apply|show VIEW|materialize VIEW] …`` over mj.features."""

from __future__ import annotations

from typing import Any

from mlops_jupyter.magics.args import UsageError, VerbParser
from mlops_jupyter.magics.registry import Verb

ACTIONS = ("list", "apply", "show", "materialize")


def _parser(action: str) -> VerbParser:
    p = VerbParser(f"features {action}", description=f"feature repository: {action}")
    if action == "list":
        p.add_argument("--search", help="only features whose view, name, type, description, owner, source or models contain this text")
    elif action in ("show", "materialize"):
        p.add_argument("view", help="feature view name")
    if action == "materialize":
        p.add_argument("--source", help="source dataset ref (default: its latest version)")
    return p


def _features(shell: Any, argv: list[str], cell: str | None) -> Any:
    import mlops_jupyter as mj

    if argv and argv[0].startswith("-"):
        argv = ["list", *argv]
    action = argv[0] if argv else "list"
    if action not in ACTIONS:
        raise UsageError(
            f"%mlops features: unknown action {action!r}; use one of {', '.join(ACTIONS)}"
        )
    args = _parser(action).parse(argv[1:])
    if action == "list":
        mj.features.catalogue(args.search).show()  # static HTML + a search box
        return None
    if action == "apply":
        return mj.features.apply()
    if action == "materialize":
        m = mj.features.materialize(args.view, source=args.source)
        print(m)
        return None
    mj.features.definition(args.view)  # unknown views: one line naming what exists
    from IPython.display import HTML, display

    cat = mj.features.catalogue()
    sub = cat.frame[cat.frame["view"] == args.view]
    display(HTML(type(cat)(sub).html()))
    return mj.features.definitions(args.view)


VERBS = {
    "features": Verb(
        name="features",
        summary="feature repository: catalogue (searchable), apply definitions, show, materialise",
        usage="%mlops features [list [--search TEXT] | apply | show VIEW | materialize VIEW [--source REF]]",
        handler=_features,
        examples=[
            "%mlops features",
            "%mlops features --search spend",
            "%mlops features apply",
            "%mlops features show customer_stats",
        ],
    )
}
