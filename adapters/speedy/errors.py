"""Speedy's error codes, classified by what the connector can do about them (a table, not logic).

Speedy's Error object is ``{context?, message, id, code, component?}`` (reference §2.4; Appendix 3 lists the codes,
none specific to tracking). It comes at the top level of an answer (the call failed) or per parcel (that number;
never an exception here: it is a NOT_FOUND report).
"""

from adapters.base import names_only_login

# woo-bg treats error code 1 on any call as "access refused" (client). Code 1 is also "General Error" (doc), so a
# code-1 error that names an input other than the login in ``component`` is a refused request instead (inferred).
AUTH_CODES = frozenset({1})
LOGIN_COMPONENTS = frozenset({"", "username", "password", "$.username", "$.password"})

# None documented; kept so a code seen in production is one line.
TRANSIENT_CODES: frozenset[int] = frozenset()

HINTS = {
    "auth": "check the Speedy userName and password (sent in the request body); until they are fixed Speedy "
            "parcels are not tracked",
    "parcels": "Speedy refused the parcels list; at most 10 parcels go in one request",
}


def is_auth(code: object, component: str | None) -> bool:
    """The rule is shared with Econt (adapters/base.py); the tables above are Speedy's: a code and one component."""
    return names_only_login(code, AUTH_CODES, [component], LOGIN_COMPONENTS)
