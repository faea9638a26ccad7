"""The dashboard in a real headless Chromium (Debian's, driven by Playwright).

Run by tests/tests/dashboard.rs against the real binary:
    python dashboard.py SCENARIO BASE_URL USER PASSWORD API_KEY SCREENSHOT_DIR
Each scenario raises on the first thing that is not as it should be; a failure saves a
screenshot of the page as SCREENSHOT_DIR/SCENARIO-failure.png.
"""

import json
import re
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
    # Several printers at once: v2 prints too; select both, pause both, resume both.
    api(base, key, "POST", "/jobs", {"file": "a.gcode", "copies": 1, "placement": {"printers": ["v2"]}})
    expect(tile(page, "v2").locator(".state")).to_have_text("printing")
    for printer in ("v1", "v2"):
        tile(page, printer).locator(".pick input").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.click("[data-bulk=pause]")
    for printer in ("v1", "v2"):
        expect(tile(page, printer).locator(".state")).to_have_text("paused")
    page.click("[data-bulk=resume]")
    for printer in ("v1", "v2"):
        expect(tile(page, printer).locator(".state")).to_have_text("printing")
    # Pause, resume and cancel (confirmed) from one tile.
    v1.locator("[data-action=pause]").click()
    expect(v1.locator(".state")).to_have_text("paused")
    v1.locator("[data-action=resume]").click()
    expect(v1.locator(".state")).to_have_text("printing")
    page.once("dialog", lambda dialog: dialog.accept())
    v1.locator("[data-action=cancel]").click()
    expect(v1.locator(".state")).to_have_text("operational")
    expect(tile(page, "v2").locator(".state")).to_have_text("printing")


def scenario_viewer(page, base, user, password, key, shots):
    log_in(page, base, user, password)
    expect(page.locator(".tile")).to_have_count(2)
    for selector in (".tile .actions", ".tile .pick", ".bulk"):
        for element in page.locator(selector).all():
            expect(element).to_be_hidden()
    expect(page.locator("#user")).to_contain_text("viewer")
    # Readable on a phone: at 360 px nothing needs scrolling sideways.
    page.set_viewport_size({"width": 360, "height": 740})
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide at 360"


def gcode(moves):
    lines = ["; generated by PrusaSlicer 2.7.1 on 2026-01-01", "G28", "G1 Z0.2 F3000"]
    lines += [f"G1 X{30 if i % 2 == 0 else 10} Y10 E{i * 0.5 + 0.5:.1f} F1200" for i in range(moves)]
    return "\n".join(lines) + "\n"


def scenario_library(page, base, user, password, key, shots):
    log_in(page, base, user, password)
    page.click("[data-view=library]")
    expect(page.locator("#drop")).to_be_visible()
    # Two files dropped at once, each with its own progress bar.
    files = [["a.gcode", gcode(20)], ["b.gcode", gcode(40)]]
    data = page.evaluate_handle(
        """(files) => { const dt = new DataTransfer();
             for (const [name, text] of files) dt.items.add(new File([text], name, { type: "text/plain" }));
             return dt; }""",
        files,
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": data})
    for name, _ in files:
        row = page.locator(f'.upload[data-upload="{name}"]')
        expect(row).to_contain_text("stored")
        expect(row.locator("progress")).to_have_attribute("value", "1")
    expect(page.locator('#entries [data-path="a.gcode"]')).to_contain_text("PrusaSlicer")
    expect(page.locator('#entries [data-path="b.gcode"]')).to_be_visible()
    # Three copies of a.gcode, watched to the end from the farm view, clearing the bed each time.
    page.locator('#entries [data-path="a.gcode"] button', has_text="Print").click()
    page.fill("#print-form [name=copies]", "3")
    page.click("#print-form button[type=submit]")
    expect(page.locator("#status")).to_contain_text("queued 3 × a.gcode")
    page.click("[data-view=farm]")
    v1 = tile(page, "v1")
    def done():
        return sum(1 for r in api(base, key, "GET", "/history") if r["file"] == "a.gcode" and r["outcome"] == "done")

    button = v1.locator("[data-action=bed-cleared]")
    cleared = 0
    deadline = time.time() + 60
    while done() < 3:
        if time.time() > deadline:
            raise AssertionError(f"{done()} copies done, bed cleared {cleared} times")
        if button.is_visible():
            expect(v1.locator(".bed")).to_contain_text("bed not cleared")
            before = done()
            button.click()
            cleared += 1
            # Each confirmation lets exactly the next copy print.
            while done() == before and time.time() < deadline:
                time.sleep(0.1)
        time.sleep(0.1)
    # After the last copy the bed waits again; cleared, nothing more is queued.
    expect(button).to_be_visible()
    button.click()
    expect(button).to_be_hidden()
    assert cleared >= 2, cleared
    page.click("[data-view=queue]")
    expect(page.locator("#jobs")).to_contain_text("Nothing queued")
    expect(page.locator('#idle [data-printer="v1"]')).to_contain_text("waits for a job: nothing is queued")
    page.check("#queue-paused")
    expect(page.locator("#status")).to_contain_text("queue paused")
    page.click("[data-view=queue]")
    expect(page.locator('#idle [data-printer="v1"]')).to_contain_text("waits for the queue to be resumed")
    page.uncheck("#queue-paused")
    # The statistics count them: three attempts, three done, for v1 and the farm.
    page.click("[data-view=history]")
    for name in ("v1", "farm"):
        cells = page.locator(f'#stats tr[data-printer="{name}"] td')
        expect(cells.nth(1)).to_have_text("3")
        expect(cells.nth(2)).to_have_text("3")
        expect(cells.nth(6)).to_have_text("100 %")
    expect(page.locator("#attempts .row")).to_have_count(3)
    # A new folder, and b.gcode moved into it under a new name.
    page.click("[data-view=library]")
    page.once("dialog", lambda d: d.accept("parts"))
    page.click("#folder-new")
    expect(page.locator('#entries [data-path="parts"]')).to_be_visible()
    page.once("dialog", lambda d: d.accept("parts/bracket.gcode"))
    page.locator('#entries [data-path="b.gcode"] button', has_text="Move").click()
    expect(page.locator('#entries [data-path="b.gcode"]')).to_have_count(0)
    page.locator('#entries [data-path="parts"] a.folder').click()
    expect(page.locator("#folder")).to_have_text("/parts")
    expect(page.locator('#entries [data-path="parts/bracket.gcode"]')).to_be_visible()


def scenario_appkey(page, base, user, password, key, shots):
    # An application asks for a key the OctoPrint way, with no credentials.
    req = urllib.request.Request(
        base + "/octoprint/v1/plugin/appkeys/request",
        data=json.dumps({"app": "Home Assistant"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as res:
        token = json.loads(res.read())["app_token"]
    poll_url = base + f"/octoprint/v1/plugin/appkeys/request/{token}"
    with urllib.request.urlopen(poll_url) as res:
        assert res.status == 202, res.status
    # The admin approves it on the page.
    log_in(page, base, user, password)
    page.click("[data-view=admin]")
    row = page.locator("#key-requests .row", has_text="Home Assistant")
    expect(row).to_be_visible()
    row.locator("button", has_text="Approve").click()
    expect(page.locator("#key-requests")).to_contain_text("No pending requests")
    # The waiting client collects its key, which works.
    with urllib.request.urlopen(poll_url) as res:
        assert res.status == 200, res.status
        api_key = json.loads(res.read())["api_key"]
    me = urllib.request.Request(base + "/farm/api/me", headers={"X-Api-Key": api_key})
    with urllib.request.urlopen(me) as res:
        assert json.loads(res.read())["user"] == user
    # The rest of the admin page: a user added (their key shown once), this session, the plugins.
    page.fill("#new-user [name=name]", "nina")
    page.select_option("#new-user [name=role]", "operator")
    page.fill("#new-user [name=password]", "long enough")
    page.click("#new-user button[type=submit]")
    expect(page.locator("#new-key")).to_contain_text("User nina added")
    expect(page.locator('#users [data-user="nina"]')).to_contain_text("operator, 1 key(s), password")
    nina = page.locator('#users [data-user="nina"]')
    nina.locator("button", has_text="Keys").click()
    expect(nina.locator(".keys .row")).to_have_count(1)
    page.once("dialog", lambda d: d.accept())
    nina.locator(".keys button", has_text="Revoke").click()
    expect(nina.locator(".keys")).to_contain_text("No API keys")
    expect(page.locator("#sessions")).to_contain_text("(this one)")
    expect(page.locator('#plugins [data-plugin="octoprint"]')).to_contain_text("enabled")
    obico = page.locator('#plugins [data-plugin="obico"]')
    obico.locator("button", has_text="Config").click()
    expect(obico.locator("pre.config")).to_contain_text("server = default")


def scenario_interrupted(page, base, user, password, key, shots):
    """After a kill -9 mid-print: the page shows the interrupted print with the last line the
    firmware acknowledged, and the operator retries it from there."""
    log_in(page, base, user, password)
    expect(tile(page, "v1").locator(".state")).to_have_text("held")
    # The held tile offers the decision too.
    expect(tile(page, "v1").locator("[data-action=retry]")).to_be_visible()
    expect(tile(page, "v1").locator("[data-action=dismiss]")).to_be_visible()
    page.click("[data-view=queue]")
    row = page.locator("#interrupted .row", has_text="long.gcode")
    expect(row).to_contain_text("last acknowledged line")
    line = int(row.inner_text().split("last acknowledged line")[1].split()[0])
    assert line >= 4, line
    row.locator("button", has_text="Retry").click()
    expect(page.locator("#interrupted")).to_contain_text("None.")
    page.click("[data-view=farm]")
    expect(tile(page, "v1").locator(".state")).to_have_text("printing", timeout=60_000)
    expect(tile(page, "v1").locator(".job")).to_contain_text("long.gcode")


def scenario_printer(page, base, user, password, key, shots):
    """One printer's page: its temperature chart, a target set from the page, a command sent from
    the terminal box, jog and home, and its history."""
    log_in(page, base, user, password)
    tile(page, "v1").locator(".name button").click()
    expect(page.locator("#printer")).to_be_visible()
    expect(page.locator("#printer-name")).to_have_text("v1")
    expect(page.locator("#chart-legend")).to_contain_text("tool0")
    page.fill("#set-temp [name=target]", "60")
    page.click("#set-temp button[type=submit]")
    # The terminal is the printer's own: the line as written (numbered, checksummed) and the
    # firmware's answers, every `ok` included.
    terminal = page.locator("#terminal")
    expect(terminal).to_contain_text(re.compile(r"Send: N\d+ M104 S60\*\d+"))
    expect(terminal).to_contain_text("Recv: ok")
    # The firmware takes the target: the printer's readings say so (through the API the page uses).
    deadline = time.time() + 20
    while True:
        readings = api(base, key, "GET", "/printers/v1")["temperatures"]
        if any(r["sensor"] == "tool0" and (r.get("target") or 0) == 60 for r in readings):
            break
        if time.time() > deadline:
            raise AssertionError(f"no target 60 in {readings}")
        time.sleep(0.3)
    page.click("[data-jog=X10]")
    expect(terminal).to_contain_text("G1 X10 F3000")
    page.click("#home")
    expect(terminal).to_contain_text(re.compile(r"Send: N\d+ G28\*"))
    page.fill("#command [name=line]", "M115")
    page.press("#command [name=line]", "Enter")
    expect(terminal).to_contain_text("Recv: FIRMWARE_NAME:")
    expect(terminal).not_to_contain_text("!")
    # Temperature reports can be hidden, and come back.
    reports = terminal.locator("[data-chatter=temps]")
    expect(reports.first).to_be_visible()
    page.check("#hide-temps")
    expect(reports.first).to_be_hidden()
    page.uncheck("#hide-temps")
    expect(reports.first).to_be_visible()
    expect(page.locator("#printer-history")).to_contain_text("Nothing printed yet")
    page.click("#printer-back")
    expect(page.locator("#farm")).to_be_visible()


def scenario_csrf(page, base, user, password, key, shots):
    """A forged change: the session cookie alone changes nothing."""
    log_in(page, base, user, password)
    expect(tile(page, "v1").locator(".state")).to_have_text("printing")
    # Script on the farm's own origin without the token (what an injected script could try).
    status = page.evaluate(
        "() => fetch('/farm/api/printers/v1/pause', {method: 'POST', credentials: 'same-origin'}).then(r => r.status)"
    )
    assert status == 403, status
    # A form on another site posting to the farm: the SameSite=Strict cookie is not even sent.
    port = base.rsplit(":", 1)[1]
    page.goto(
        "data:text/html,<form id=f method=post action='http://127.0.0.1:" + port
        + "/farm/api/printers/v1/pause'></form>"
    )
    with page.expect_navigation():
        page.locator("#f").evaluate("f => f.submit()")
    assert "401" in page.content() or "log in" in page.content() or "API key" in page.content(), page.content()
    # Nothing was paused.
    assert api(base, key, "GET", "/printers/v1")["state"] == "printing"


def scenario_keyboard(page, base, user, password, key, shots):
    """The whole round with the keyboard alone: log in, switch views, open a printer, go back."""
    page.goto(base + "/")
    page.locator("#login [name=user]").wait_for()
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.locator("#live")).to_have_text("live")
    # A view change moves the focus to the view, so the next Tab starts there.
    for key_, view in [("2", "queue"), ("3", "library"), ("4", "history"), ("1", "farm")]:
        page.keyboard.press(key_)
        expect(page.locator("#" + view)).to_be_visible()
        expect(page.locator("#" + view)).to_be_focused()
        assert page.url.endswith("#/" + view), page.url
    # "/" goes to the farm's filter; Tab from there reaches the tiles' controls.
    page.keyboard.press("/")
    expect(page.locator("#state-filter")).to_be_focused()
    opened = False
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.closest('.tile h2') !== null")
        if focused:
            page.keyboard.press("Enter")
            opened = True
            break
    assert opened, "Tab never reached a printer's name"
    expect(page.locator("#printer")).to_be_visible()
    assert "#/printer/" in page.url, page.url
    # The command box works from the keyboard too.
    page.locator("#command [name=line]").focus()
    page.keyboard.type("M115")
    page.keyboard.press("Enter")
    expect(page.locator("#terminal")).to_contain_text("FIRMWARE_NAME:")
    # Escape leaves a field alone, then goes back to the farm; the browser's back button returns.
    page.locator("#printer").focus()
    page.keyboard.press("Escape")
    expect(page.locator("#farm")).to_be_visible()
    page.go_back()
    expect(page.locator("#printer")).to_be_visible()
    # The file chooser is reachable with Tab (it is hidden from sight only).
    page.keyboard.press("3")
    found = False
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "files":
            found = True
            break
    assert found, "Tab never reached the file chooser"
    # "?" lists the shortcuts; a reload keeps the view of the address.
    page.locator("#library").focus()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.reload()
    expect(page.locator("#library")).to_be_visible()


def scenario_plugin_page(page, base, user, password, key, shots):
    """An admin follows the Obico plugin's page link and uses it with the dashboard's session."""
    log_in(page, base, user, password)
    page.click("[data-view=admin]")
    link = page.locator('[data-plugin="obico"] a', has_text="Obico link")
    expect(link).to_have_attribute("href", "/obico/")
    link.click()
    expect(page.locator("h1")).to_have_text("Obico link")
    row = page.locator('tr[data-printer="v1"]')
    expect(row.locator(".state")).to_have_text("unlinked")
    expect(page.locator("body")).to_contain_text(f"Signed in as {user} (admin)")
    # A change from the page carries the session's CSRF token: unlinking an unlinked printer
    # is allowed and changes nothing, and the page comes back.
    status = page.evaluate(
        "() => fetch('/farm/api/session').then(r => r.json()).then(s => fetch('/obico/api/printers/v1/link', "
        "{method: 'DELETE', headers: {'X-CSRF-Token': s.csrf}})).then(r => r.status)"
    )
    assert status == 200, f"unlink from the page answered {status}"
    # Without the token the plugin is not told who is asking.
    status = page.evaluate("() => fetch('/obico/api/printers/v1/link', {method: 'DELETE'}).then(r => r.status)")
    assert status == 401, status
    page.go_back()
    expect(page.locator("#admin")).to_be_visible()


def scenario_first_render(page, base, user, password, key, shots):
    """Not a test: prints the time from opening the page (logged in) to every tile shown."""
    import os

    printers = int(os.environ.get("PRINTERS", "200"))
    page.request.post(base + "/farm/api/login", data={"user": user, "password": password})
    times = []
    for _ in range(3):
        started = time.perf_counter()
        page.goto(base + "/")
        # A locator, not a JavaScript string: the page's CSP forbids eval.
        page.locator(".tile").nth(printers - 1).wait_for()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"first render of {printers} tiles: median {times[1]:.0f} ms (min {times[0]:.0f}, max {times[2]:.0f}; goal: under 1000 ms)")


SCENARIOS = {
    "csrf": scenario_csrf,
    "printer": scenario_printer,
    "interrupted": scenario_interrupted,
    "first-render": scenario_first_render,
    "library": scenario_library,
    "appkey": scenario_appkey,
    "login": scenario_login,
    "live": scenario_live,
    "viewer": scenario_viewer,
    "keyboard": scenario_keyboard,
    "plugin-page": scenario_plugin_page,
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
