"""Nodeprep (RFC 3920, appendix A) and nameprep (RFC 3491) from the standard library.

Prosody's SASL layer nodepreps the username before it checks a token, and the
server signs with its hosts' nameprepped names, so a generator must sign the
same strings. The tables are RFC 3454's, from the `stringprep` module, on
Unicode 3.2 (`unicodedata.ucd_3_2_0`), as the RFCs require.
"""

from __future__ import annotations

import stringprep
import unicodedata
from encodings import idna

# RFC 3920, A.5: the characters nodeprep prohibits beyond RFC 3454's tables.
_NODE_PROHIBITED_ASCII = frozenset("\"&'/:<>@")

# RFC 3920, A.5: the RFC 3454 tables nodeprep prohibits.
_PROHIBITED_TABLES = (
    stringprep.in_table_c11,
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


class InvalidUsername(ValueError):
    """The username is one that nodeprep refuses (or is empty): no token can log it in."""


class InvalidDomain(ValueError):
    """The domain is one that nameprep refuses, is empty, or contains '@' or '/'."""


def _check_bidi(text: str, error: type[ValueError], what: str) -> None:
    # RFC 3454, section 6: right-to-left text may not mix with left-to-right
    # text, and must start and end with a right-to-left character.
    if any(stringprep.in_table_d1(c) for c in text):
        if any(stringprep.in_table_d2(c) for c in text):
            raise error(f"{what} mixes right-to-left and left-to-right characters")
        if not (stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1])):
            raise error(f"{what} does not start and end with a right-to-left character")


def nodeprep(username: str) -> str:
    """Return `username` as Prosody checks it: the RFC 3920 nodeprep profile.


    As Prosody's SASL layer does it: SASLprep's mapping of non-ASCII spaces
    (to a space, refused), then nodeprep: drops RFC 3454 B.1, case-folds
    with B.2, normalizes with NFKC on Unicode 3.2, then refuses the
    prohibited characters and bad bidirectional text. Unassigned code points are let through, as
    Prosody's (non-strict) nodeprep does at login.

    Raises:
        InvalidUsername: for a name nodeprep refuses, or that is empty
            before or after preparation. `TypeError` if it is not a `str`.
    """
    if not isinstance(username, str):
        raise TypeError("username must be a str")
    # Prosody SASLpreps the username before it nodepreps it, and SASLprep
    # maps the non-ASCII spaces (C.1.2) to a space, which nodeprep refuses;
    # nodeprep alone would drop U+200B instead.
    for c in username:
        if stringprep.in_table_c12(c):
            raise InvalidUsername(f"the username contains a space character (U+{ord(c):04X})")
    mapped = "".join(stringprep.map_table_b2(c) for c in username if not stringprep.in_table_b1(c))
    prepped = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    if not prepped:
        raise InvalidUsername("the username is empty")
    for c in prepped:
        if c in _NODE_PROHIBITED_ASCII or any(table(c) for table in _PROHIBITED_TABLES):
            raise InvalidUsername(f"the username contains a character nodeprep prohibits (U+{ord(c):04X})")
    _check_bidi(prepped, InvalidUsername, "the username")
    return prepped


def nameprep(domain: str) -> str:
    """Return `domain` as Prosody names the host: RFC 3491 nameprep, label by label.

    `Example.COM` becomes `example.com`; an internationalized name stays in
    Unicode (Prosody's host names are the nameprepped Unicode form).

    Raises:
        InvalidDomain: for a name nameprep refuses, an empty name or label,
            or one containing '@' or '/'. `TypeError` if it is not a `str`.
    """
    if not isinstance(domain, str):
        raise TypeError("domain must be a str")
    labels = domain.split(".")
    if domain.endswith("."):
        labels.pop()  # a trailing dot names the same host
    try:
        prepped = ".".join(idna.nameprep(label) for label in labels)
    except UnicodeError as e:
        raise InvalidDomain(f"nameprep refuses the domain: {e}") from None
    if not prepped or any(not label for label in prepped.split(".")):
        raise InvalidDomain("the domain is empty or has an empty label")
    if "@" in prepped or "/" in prepped or any(c <= " " or c == "\x7f" for c in prepped):
        raise InvalidDomain("the domain contains '@', '/', a space or a control character")
    return prepped
