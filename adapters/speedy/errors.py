"""Speedy's error codes, classified by what the connector can do about them (a table, not logic).

Speedy's Error object is ``{context?, message, id, code, component?}`` (reference §2.4; Appendix 3 lists the codes,
none specific to tracking). It comes at the top level of an answer (the call failed) or per parcel (that number;
never an exception here: it is a NOT_FOUND report).
"""

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
    return code in AUTH_CODES and (component or "").strip().casefold() in LOGIN_COMPONENTS
