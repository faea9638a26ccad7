"""The dashboard in a real headless Chromium (Debian's, driven by Playwright).

Run by tests/tests/dashboard.rs against the real binary:
    python dashboard.py SCENARIO BASE_URL USER PASSWORD API_KEY SCREENSHOT_DIR
Each scenario raises on the first thing that is not as it should be; a failure saves a
screenshot of the page as SCREENSHOT_DIR/SCENARIO-failure.png.
"""

import json
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 20_000


def api(base, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/farm/api" + path, data=data, method=method)
    req.add_header("X-Api-Key", key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as res:
        text = res.read()
        return json.loads(text) if text else None


def log_in(page, base, user, password):
    page.goto(base + "/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#login [name=user]", user)
    page.fill("#login [name=password]", password)
    page.click("#login button[type=submit]")
    expect(page.locator("#farm")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")


def tile(page, printer):
    return page.locator(f'.tile[data-printer="{printer}"]')


def scenario_login(page, base, user, password, key, shots):
    page.goto(base + "/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#login [name=user]", user)
    page.fill("#login [name=password]", "not the password")
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("wrong user name or password")
    expect(page.locator("#farm")).to_be_hidden()
    log_in(page, base, user, password)
    expect(page.locator(".tile")).to_have_count(2)
    expect(page.locator("#user")).to_contain_text(user)
    # A reload keeps the session (the cookie), then logout ends it.
    page.reload()
    expect(page.locator("#farm")).to_be_visible()
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    page.reload()
    expect(page.locator("#login")).to_be_visible()


def scenario_live(page, base, user, password, key, shots):
    log_in(page, base, user, password)
    v1 = tile(page, "v1")
    expect(v1.locator(".state")).to_have_text("operational")
    # A print queued elsewhere shows up without a reload, its progress moving.
    api(base, key, "POST", "/jobs", {"file": "a.gcode", "copies": 1, "placement": {"printers": ["v1"]}})
    expect(v1.locator(".state")).to_have_text("printing")
    bar = v1.locator("progress")
    expect(bar).to_be_visible()
    first = float(bar.get_attribute("value") or 0)
    deadline = time.time() + 15
    while float(bar.get_attribute("value") or 0) <= first:
        if time.time() > deadline:
            raise AssertionError(f"progress stayed at {first}")
        time.sleep(0.2)
    expect(v1.locator(".job")).to_contain_text("a.gcode")
    page.screenshot(path=str(shots / "farm-view.png"), full_page=True)
    # Pause, resume and cancel (confirmed) from the tile.
    v1.locator("[data-action=pause]").click()
    expect(v1.locator(".state")).to_have_text("paused")
    v1.locator("[data-action=resume]").click()
    expect(v1.locator(".state")).to_have_text("printing")
    page.once("dialog", lambda dialog: dialog.accept())
    v1.locator("[data-action=cancel]").click()
    expect(v1.locator(".state")).to_have_text("operational")
    # Several printers at once: select both, pause both (nothing prints: each says why).
    for printer in ("v1", "v2"):
        tile(page, printer).locator(".pick input").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")


def scenario_viewer(page, base, user, password, key, shots):
    log_in(page, base, user, password)
    expect(page.locator(".tile")).to_have_count(2)
    for selector in (".tile .actions", ".tile .pick", ".bulk"):
        for element in page.locator(selector).all():
            expect(element).to_be_hidden()
    expect(page.locator("#user")).to_contain_text("viewer")


SCENARIOS = {
    "login": scenario_login,
    "live": scenario_live,
    "viewer": scenario_viewer,
}


def main():
    name, base, user, password, key, shots = sys.argv[1:7]
    shots = Path(shots)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            SCENARIOS[name](page, base, user, password, key, shots)
            if errors:
                raise AssertionError(f"the page threw: {errors}")
        except Exception:
            page.screenshot(path=str(shots / f"{name}-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(f"scenario {name}: ok")


if __name__ == "__main__":
    main()
