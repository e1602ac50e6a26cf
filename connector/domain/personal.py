"""Personal contact data in free text: found to redact it from logs, and to keep it out of buyer messages where a
marketplace forbids sharing contacts."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Ukrainian and Bulgarian numbers in the forms buyers type them. A 14-digit TTN or an order id does not match.
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d[\d\s().-]{7,}\d"  # anything international, +380 67 123 45 67
    r"|(?:380|359)\d{8,9}"  # 380671234567
    r"|0\d{2}[\s-]?\d{3}[\s-]?\d{2}[\s-]?\d{2})(?!\w)"  # 067 123 45 67
)
LINK = re.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|bg|ua|ro|eu|info|shop)\b(?:/\S*)?")


def contact_data(text: str) -> list[str]:
    """Every e-mail address, phone number and link in ``text``, in order of appearance."""
    found = [(m.start(), m.group()) for pattern in (EMAIL, PHONE) for m in pattern.finditer(text)]
    emails = [m.span() for m in EMAIL.finditer(text)]
    for m in LINK.finditer(text):
        if not any(start <= m.start() < end for start, end in emails):  # an e-mail's domain is not a link
            found.append((m.start(), m.group().rstrip(".,;:!?)")))
    return [value for _, value in sorted(found)]
