"""The ``--help`` listing of every key."""

from __future__ import annotations

import json

from harness.config.keys import all_keys, bounds, get
from harness.config.schema import Config


def help_text(cfg: Config | None = None) -> str:
    """The ``--help`` listing: every key, its value (the default, or ``cfg``'s) and what it does, by section."""
    lines, section, limits = [], None, bounds()
    for key, (tp, default, text) in all_keys().items():
        if cfg is not None:
            default = get(cfg, key)
        head = key.split(".")[0] if "." in key else ""
        if head != section:
            section = head
            lines.append(f"\n[{head or 'top level'}]")
        name = getattr(tp, "__name__", str(tp))
        b = limits.get(key, {})
        if b.get("gt") is not None:
            name += f", > {b['gt']:g}"
        if b.get("ge") is not None:
            name += f", >= {b['ge']:g}"
        lines.append(f"  {key} = {json.dumps(default)}  ({name})\n      {text}")
    return "\n".join(lines)
