"""Marketplace order-sync connector: marketplaces → one canonical order store → back again."""

__version__ = "0.1.0"
