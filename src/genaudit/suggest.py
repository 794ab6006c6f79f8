"""Did-you-mean suggestions for unknown names; no genaudit imports, so any module may use it.

>>> did_you_mean("job", ["jobs", "checks"])
" (did you mean 'jobs'?)"
>>> did_you_mean("zzz", ["jobs", "checks"])
''
"""

from __future__ import annotations

import difflib


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
