"""Prom.ua (Evo's marketplace) through its public API: a Bearer token per seller on ``https://my.prom.ua/api/v1``.

Polling only (no webhooks exist): ``GET /orders/list`` by modification time with the ``last_id`` cursor; writes are
``POST /orders/set_status`` and ``POST /delivery/save_declaration_id``. HTTP 200 is not success: a write succeeded
only when Prom says so in the body (``processed_ids``, ``status: success``). docs/adapters.md, Prom.ua.
"""
