"""Helpers of the dashboard's browser tests: the system's headless Chromium driven by Selenium
(never a browser that Selenium Manager downloads), the dashboard served on a free port of
127.0.0.1, and checks of what the page shows."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Set by .ci/run: there a missing browser fails the tests instead of skipping them.
REQUIRE = "PEERSIM_REQUIRE_BROWSER"
ROOT = Path(__file__).resolve().parents[1]


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"no {path} (apt-get install chromium chromium-driver)"
    for module in ("selenium", "solara", "PIL"):
        if importlib.util.find_spec(module) is None:
            return f"no Python module {module} (pip install -e '.[dev]')"
    return None


def require_browser() -> None:
    """Skip with the reason when the browser is missing; fail instead under ``$REQUIRE=1``."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1 but the browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0):
    """Poll ``condition`` until it returns something true; fail naming ``what``."""
    end = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):  # the page may be re-rendering under us
            if found := condition():
                return found
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def dashboard(log: Path, *, replay: Path | None = None) -> Iterator[str]:
    """``peersim-dashboard`` on a free port of 127.0.0.1; yields its URL and stops it."""
    port = free_port()
    argv = [sys.executable, "-m", "sim.app.dashboard.server", "--port", str(port)]
    if replay is not None:
        argv += ["--replay", str(replay)]
    with open(log, "wb") as out:
        server = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _listening(port) or server.poll() is not None, "the server to listen")
        assert server.poll() is None, f"the server ended: {log.read_text()[-2000:]}"
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[object]:
    """Headless Chromium (the system's) with a fresh profile, driven by chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager may not download anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def body_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def shown_step(driver, pattern: str = r"Step: (\d+)") -> int | None:
    """The step the page's counter shows (None before it is drawn)."""
    found = re.search(pattern, body_text(driver))
    return int(found.group(1)) if found else None


def figure(driver, css_class: str):
    """The image inside the element of ``css_class`` once drawn (a solara matplotlib view)."""
    from selenium.webdriver.common.by import By

    images = driver.find_elements(By.CSS_SELECTOR, f".{css_class} img")
    return images[0] if images and images[0].size["width"] > 100 else None


def pixels(image) -> bytes:
    """The image element's pixels as the page shows them (RGB bytes), checked not blank."""
    from PIL import Image

    picture = Image.open(io.BytesIO(image.screenshot_as_png)).convert("RGB")
    colours = picture.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 8, "a blank image"
    return picture.tobytes()


def button(driver, label: str):
    """The button whose shown label is ``label`` (case-insensitive)."""
    from selenium.webdriver.common.by import By

    found = [b for b in driver.find_elements(By.TAG_NAME, "button")
             if b.text.strip().upper() == label.upper()]  # fmt: skip
    assert found, f"no button {label!r}"
    return found[0]


def slide(driver, label: str, notches: int) -> None:
    """Move the slider labelled ``label`` by ``notches`` steps (right if positive), by keys:
    its thumb takes them once focused (it has no size of its own to click)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    thumb = driver.find_element(By.CSS_SELECTOR, f"[role=slider][aria-label='{label}']")
    driver.execute_script("arguments[0].focus()", thumb)
    key = Keys.ARROW_RIGHT if notches > 0 else Keys.ARROW_LEFT
    ActionChains(driver).send_keys(key * abs(notches)).perform()


def check_no_error(driver) -> None:
    """No error banner and no traceback on the page."""
    from selenium.webdriver.common.by import By

    text = body_text(driver)
    assert "Traceback" not in text, text[-2000:]
    banners = driver.find_elements(By.CSS_SELECTOR, ".v-alert.error, .error--text.v-alert")
    assert not banners, [b.text for b in banners]
