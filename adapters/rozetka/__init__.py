"""Rozetka Marketplace Seller API (Ukraine): https-JSON, Bearer token, statuses by numeric id."""
