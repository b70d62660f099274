"""Python source as HTML with syntax classes, for the console's policy view.

The standard library's tokenizer does the work, so strings, f-strings and comments are exactly
what Python sees; source that does not tokenize is shown escaped, uncoloured.
"""

from __future__ import annotations

import builtins
import io
import keyword
import tokenize
from html import escape

_BUILTINS = frozenset(dir(builtins))


def _classes(tokens: list[tokenize.TokenInfo]) -> list[str | None]:
    """The CSS class for each token (None: plain)."""
    found: list[str | None] = []
    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == tokenize.COMMENT:
            found.append("com")
        elif kind == tokenize.STRING or kind in _FSTRING_PARTS:
            found.append("str")
        elif kind == tokenize.NUMBER:
            found.append("num")
        elif kind == tokenize.NAME:
            previous = tokens[i - 1] if i else None
            if previous is not None and previous.string == "@":
                found.append("dec")
            elif keyword.iskeyword(tok.string):
                found.append("kw")
            elif previous is not None and previous.string in ("def", "class"):
                found.append("def")
            elif tok.string in _BUILTINS:
                found.append("bi")
            else:
                found.append(None)
        elif kind == tokenize.OP and tok.string == "@":
            found.append("dec")
        else:
            found.append(None)
    return found


_FSTRING_PARTS = frozenset(
    getattr(tokenize, name)
    for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
    if hasattr(tokenize, name)
)


def highlight(source: str) -> str:
    """HTML (no wrapper element) of `source`, with `<span class=…>` around coloured tokens."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return escape(source)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(row: int, col: int) -> int:
        return offsets[row - 1] + col if row - 1 < len(offsets) else len(source)

    out: list[str] = []
    position = 0
    for tok, css in zip(tokens, _classes(tokens), strict=True):
        start, end = at(*tok.start), at(*tok.end)
        if start < position or end <= start:
            continue
        out.append(escape(source[position:start]))
        text = escape(source[start:end])
        out.append(f'<span class="{css}">{text}</span>' if css else text)
        position = end
    out.append(escape(source[position:]))
    return "".join(out)
