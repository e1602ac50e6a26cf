"""The web page (``connector ui``): is everything flowing, and what needs me?

A thin face over the store's read and command functions (connector/store/queries.py, search.py, commands.py,
accounts.py): server-rendered with Jinja2, kept live by htmx polling fragments. No SQL and no marketplace rule here.
"""

from connector.web.app import create_app
from connector.web.server import UiServer

__all__ = ["UiServer", "create_app"]
