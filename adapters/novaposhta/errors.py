"""Nova Poshta's message codes (``errorCodes``), classified by what the connector can do about them: a table.

Codes and texts from NP's message-code list as copied into public clients (shared reference §5). Matching is on
codes, never on texts: the texts come in the key's language and change. Any code not named here is permanent:
retrying an error nobody understands only repeats it.
"""

# Too many requests: back off with jitter and try again (no numeric limit is published).
RATE_LIMIT = frozenset({"20000401501"})

# The daily request quota is spent: nothing helps before the next day (Kyiv time).
QUOTA = frozenset({"20000501331"})

# The API key is wrong, empty, expired or inactive: no retry helps, a person must act.
AUTH = frozenset({"20000200068", "20000200069", "20000201204", "20000401355", "20000401360", "20000401362",
                  "20000101964"})

# NP's own side failed: retry with backoff.
TRANSIENT = frozenset({"20000200795", "20000100016", "20000100008"})

# A batch of more than 100 documents: our bug, never retried.
BATCH_TOO_BIG = frozenset({"20001401153"})

# A document number NP refuses (the batch is refused with it; "Invalid DocumentNumber: <n>" names the culprit).
BAD_NUMBER = frozenset({"20001401442", "20000200157", "20000200158", "20000401620", "20000201873", "20001401158"})

HINTS = {
    "20000401501": "Nova Poshta rate-limits the key; the connector backs off and retries",
    "20000501331": "the key's daily request limit is spent; tracking resumes after midnight (Kyiv time)",
    "20000200068": "check the carrier's api_key: Nova Poshta does not accept it",
    "20000200069": "set the carrier's api_key (the seller's key from the Nova Poshta cabinet)",
    "20000201204": "the API key has expired: create a new one in the Nova Poshta cabinet (Settings → Security)",
    "20000401355": "check the carrier's api_key: Nova Poshta does not accept it",
    "20000401360": "check the carrier's api_key: Nova Poshta says it is invalid",
    "20000401362": "the API key is inactive: activate it or create a new one in the Nova Poshta cabinet",
    "20000101964": "the api_key is not in Nova Poshta's format (32 hex characters); copy it again from the cabinet",
    "20001401153": "a request carried more than 100 documents; the adapter's batch_size must stay at 100",
    "20001401442": "a tracking number is not a Nova Poshta waybill number (14 digits)",
}
