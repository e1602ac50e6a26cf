"""Prom's answers classified by what the connector can do about them (a table, not logic).

Prom has no error codes: refusals are words in an HTTP 200 body (``{"error": …}`` from set_status,
``{"status": "error", "message": …}`` from save_declaration_id), so they are recognised by their words. Anything not
named here is permanent: retrying a refusal nobody understands only repeats it.
"""

# save_declaration_id's answer to a TTN the order already carries [LIVE TOYSI]: the goal is reached.
ALREADY_ATTACHED = ("уже добавлен", "вже додан", "already added", "already attached")

HINTS = {
    "not allowed": "Prom does not accept this status for the order now (a 2026 live probe found only received, "
                   "delivered and paid writable; canceled needs a reason); check the order in the cabinet",
    "cancellation": "Prom wants a cancellation_reason it knows, and a cancellation_text for price_changed, "
                    "not_enough_fields and another",
    "declaration": "check the TTN and that the order's delivery is by this carrier in the cabinet",
}

AUTH_HINT = ("create a new API token in the Prom cabinet (Settings → Управління API-токенами) with read and write "
             "access to Orders and Delivery, and update the account's token_env or token_file; tokens expire on the "
             "date Prom set when they were created")


def hint_for(message: str) -> str:
    text = message.casefold()
    return next((hint for words, hint in HINTS.items() if words in text),
                "check the order in the Prom cabinet; the connector does not send this again")
