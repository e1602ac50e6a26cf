"""Chopni (Bulgaria; OpenCart 2.3 + MultiMerch 8.14): no API, so the adapter speaks the seller panel's HTML and AJAX."""
