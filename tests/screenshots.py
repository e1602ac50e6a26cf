"""Screenshots of the web page's main views, for docs/screenshots/: ``.venv/bin/python -m tests.screenshots``.

The same set-up the browser tests use: a store filled by a real pull from the Rozetka sandbox, one command failed
as a conflict, one parcel with a carrier timeline, the page served by ``UiServer``, headless Debian Chromium.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# As root, and on a network that refuses Google's hosts: no sandbox, and none of the background connections.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars")
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def missing() -> str | None:
    """Why a browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return f"{path} is missing: apt-get install -y chromium chromium-driver (.ci/run does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


def chromium(width: int = 1280, height: int = 900, *, timezone: str | None = "Europe/Kyiv"):
    """Headless Chromium with a fresh profile; the viewer's time zone set to ``timezone``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="connector-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    if timezone:
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": timezone})
    original_quit = driver.quit

    def quit_() -> None:
        try:
            original_quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    driver.quit = quit_
    return driver


def full_height(driver, width: int) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height + 120, 600), 4000))


def main() -> int:
    why = missing()
    if why:
        print(f"cannot take screenshots: {why}", file=sys.stderr)
        return 1
    from adapters.rozetka.sandbox import RozetkaSandbox
    from connector.domain import ShipmentStatus, utcnow
    from connector.domain.tracking import CarrierEvent, ParcelReport
    from connector.store import Store
    from connector.store.migrate import upgrade
    from connector.store.shipments import record
    from connector.store.tables import ShipmentRow
    from connector.web import UiServer
    from sqlmodel import select
    from tests.e2e.test_web import failed_accept, fill

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="connector-screenshots-"))
    store = Store(f"sqlite:///{work / 'store.db'}")
    upgrade(store)
    with RozetkaSandbox(seed=7, orders=14, page_size=20) as sandbox:
        sandbox.add_seller("shop@example.com", "password")
        a = fill(store, sandbox)
        _, failed_order = failed_accept(store, sandbox, a)
    with store.transaction() as session:
        shipment = session.exec(select(ShipmentRow)).first()
        now = utcnow()
        record(session, shipment.id, ParcelReport(
            shipment.ttn, ShipmentStatus.READY_FOR_PICKUP, "7", "Прибув у відділення", events=(
                CarrierEvent("1", "Відправлення створено", ShipmentStatus.CREATED, now - timedelta(hours=30), "Київ"),
                CarrierEvent("5", "Прямує до міста одержувача", ShipmentStatus.IN_TRANSIT,
                             now - timedelta(hours=20), "Київ"),
                CarrierEvent("7", "Прибув у відділення", ShipmentStatus.READY_FOR_PICKUP, now - timedelta(hours=2),
                             "Львів, відділення №12")),
            updated_at=now - timedelta(hours=2), storage_until=now + timedelta(days=5)),
            next_check_at=now + timedelta(hours=1))
        parcel_order = shipment.order_id
    shots = []
    with UiServer(store) as server:
        driver = chromium()
        try:
            for name, path, width in [("overview", "", 1280), ("order", f"orders/{parcel_order}", 1280),
                                      ("failed-order", f"orders/{failed_order.id}", 1280),
                                      ("phone", "", 390)]:
                driver.set_window_size(width, 900)
                driver.get(server.url + path)
                time.sleep(0.6)  # htmx and the time-zone script have run
                full_height(driver, width)
                time.sleep(0.3)
                target = OUT / f"{name}.png"
                driver.save_screenshot(str(target))
                shots.append(target)
        finally:
            driver.quit()
    store.dispose()
    shutil.rmtree(work, ignore_errors=True)
    for shot in shots:
        print(shot.relative_to(OUT.parent.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
