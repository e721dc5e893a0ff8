"""What counts as something to draw: a prompt must have a visible letter, digit or symbol.

Discord lets a member send text made only of characters that render as nothing:
zero-width spaces and joiners, word joiners, byte-order marks, fillers that look
blank (Hangul fillers, the braille blank), combining marks with no base, controls
and punctuation alone. Such a prompt would be queued, charged and rendered as
random footage, so it is refused like an empty one.
"""

from __future__ import annotations

import unicodedata

# Characters Unicode files as letters but every font draws as blank space.
BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# General categories that carry meaning on their own: letters, digits, symbols (emoji included).
MEANINGFUL_CATEGORIES = ("L", "N", "S")


def _meaningful(character: str) -> bool:
    if character in BLANK_LOOKING:
        return False
    return unicodedata.category(character).startswith(MEANINGFUL_CATEGORIES)


def has_visible_content(text: str) -> bool:
    """True when `text` shows at least one letter, digit or symbol.

    Whitespace, format characters (Cf), controls, combining marks, punctuation and
    blank-looking fillers alone do not count.
    """
    return any(_meaningful(character) for character in text)
