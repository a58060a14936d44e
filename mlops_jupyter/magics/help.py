"""``%mlops help [VERB]``: built from the verb registry, so it lists what really exists."""

from __future__ import annotations

from IPython.core.error import UsageError

from mlops_jupyter.magics import registry


def help_text(verb: str | None = None) -> str:
    verbs = registry.available()
    if verb is not None:
        v = verbs.get(verb)
        if v is None:
            why = registry.broken().get(verb)
            if why:
                return f"%mlops {verb} is unavailable: {why}"
            raise UsageError(
                f"%mlops help: unknown verb {verb!r}; verbs: {', '.join(sorted(verbs))}"
            )
        lines = [f"%mlops {v.name} — {v.summary}", "", "usage:"]
        lines += [f"  {u}" for u in v.usage.splitlines()]
        if v.examples:
            lines += ["", "examples:"] + [f"  {e}" for e in v.examples]
        return "\n".join(lines)
    width = max((len(n) for n in verbs), default=4)
    lines = ["%mlops VERB [ARGS]   (%%mlops track for a tracked cell)", ""]
    for name, v in verbs.items():
        lines.append(f"  {name:<{width}}  {v.summary}")
    lines.append(f"  {'help':<{width}}  this list; %mlops help VERB for usage and examples")
    for name, why in registry.broken().items():
        lines.append(f"  {name:<{width}}  (unavailable: {why})")
    return "\n".join(lines)
