"""Rozetka's error codes, classified by what the connector can do about them (a table, not logic).

Codes from the apiDoc's error list (shared reference §7). Any code not named here is treated as permanent:
retrying an error nobody understands only repeats it.
"""

# The token went stale: log in again once, then retry the request.
RELOGIN = frozenset({5401, 6001, 1018})

# The credentials or the role are wrong: no retry helps, a person must act (the account is paused).
AUTH = frozenset({1004, 1010, 1020, 1021, 1025})

# Rozetka's side had a problem: retry with backoff.
TRANSIENT = frozenset({0, 1003, 1015, 5503})

HINTS = {
    1004: "check the account's username and password (the password is sent base64-encoded, as the API wants)",
    1010: "the token's role lacks a permission: give the API user the orders role (order_edit) in the cabinet",
    1005: "Rozetka refused the change as shown; check the order in the seller cabinet",
    1019: "Rozetka does not know this order; it may belong to another shop",
    5503: "Rozetka is in technical maintenance; the connector retries later",
}
