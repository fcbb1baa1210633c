"""The dashboard in a real browser (the system's headless Chromium): the page renders its
network and plots, Step advances the counter and the plots, a changed control resets the
model with it, and a replayed run's slider moves its step. Skipped, with the reason, without
chromium; failed instead under PEERSIM_REQUIRE_BROWSER=1 (as .ci/run sets it)."""

from __future__ import annotations

import time

import pytest

from tests import browser
from tests.browser import button, check_no_error, figure, pixels, shown_step, slide, wait_for


@pytest.fixture
def page(tmp_path):
    """A browser on the live dashboard, loaded."""
    browser.require_browser()
    with (
        browser.dashboard(tmp_path / "server.log") as url,
        browser.chromium(tmp_path / "profile") as driver,
    ):
        driver.get(url)
        wait_for(lambda: shown_step(driver) == 0, "the step counter at 0")
        yield driver


def test_live_page_renders_steps_and_resets_with_a_changed_control(page, tmp_path):
    from selenium.webdriver.common.by import By

    network = wait_for(lambda: figure(page, "peersim-network"), "the network")
    pixels(network)
    series = wait_for(lambda: figure(page, "peersim-series"), "the plots")
    before = pixels(series)
    check_no_error(page)
    command = page.find_element(By.CSS_SELECTOR, ".peersim-command").text
    assert "population.n_agents=200" in command and "kill_switch" not in command

    button(page, "Step").click()
    wait_for(lambda: shown_step(page) == 1, "the step counter at 1")
    after = wait_for(
        lambda: (
            (img := figure(page, "peersim-series")) and (shown := pixels(img)) != before and shown
        ),
        "the plots to advance",
    )
    assert after != before
    button(page, "Step").click()
    wait_for(lambda: shown_step(page) == 2, "the step counter at 2")

    page.find_element(By.XPATH, "//label[normalize-space()='Kill switch']").click()
    slide(page, "Fleet size", 10)  # 10 notches of 10 models: 200 -> 300
    button(page, "Reset").click()
    wait_for(lambda: shown_step(page) == 0, "the step counter back at 0")
    command = wait_for(
        lambda: (
            (text := page.find_element(By.CSS_SELECTOR, ".peersim-command").text)
            and "kill_switch" in text
            and text
        ),
        "the reset model to have the kill switch",
    )
    assert "pipeline.shutdown_mechanism=kill_switch" in command
    assert "population.n_agents=300" in command
    pixels(wait_for(lambda: figure(page, "peersim-network"), "the network after reset"))
    for step in range(1, 13):  # past the first decommission round (step 10)
        button(page, "Step").click()
        wait_for(lambda s=step: shown_step(page) == s, f"the step counter at {step}")
    pixels(wait_for(lambda: figure(page, "peersim-series"), "the plots after 12 steps"))
    button(page, "▶").click()  # play, then pause
    wait_for(lambda: shown_step(page) >= 15, "play to run past step 15")
    button(page, "❚❚").click()
    time.sleep(1.0)  # a step under way ends
    paused = shown_step(page)
    time.sleep(1.0)  # at the default 100 ms per step, play would have gone on
    assert shown_step(page) == paused
    check_no_error(page)
    shot = tmp_path / "dashboard.png"
    assert page.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000


def test_a_missing_browser_skips_with_its_reason_or_fails_where_ci_requires_it(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv(browser.REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no .*no-chromium .*apt-get install"):
        browser.require_browser()
    monkeypatch.setenv(browser.REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match="PEERSIM_REQUIRE_BROWSER=1 but"):
        browser.require_browser()


def test_replay_slider_moves_the_step_and_redraws_the_network(tmp_path):
    from sim import run

    browser.require_browser()
    folder = tmp_path / "run"
    run(["population.n_agents=60", "steps=12", "figures=false"], output_dir=folder)
    pattern = r"Step: (\d+) of 12"
    with (
        browser.dashboard(tmp_path / "server.log", replay=folder) as url,
        browser.chromium(tmp_path / "profile") as driver,
    ):
        driver.get(url)
        wait_for(lambda: shown_step(driver, pattern) == 0, "the replay at step 0")
        first = pixels(wait_for(lambda: figure(driver, "peersim-network"), "the network"))
        pixels(wait_for(lambda: figure(driver, "peersim-series"), "the plots"))
        check_no_error(driver)
        slide(driver, "Snapshot", 3)
        wait_for(lambda: shown_step(driver, pattern) == 3, "the replay at step 3")
        wait_for(
            lambda: pixels(figure(driver, "peersim-network")) != first,
            "the network redrawn at step 3",
        )
        check_no_error(driver)
        assert driver.save_screenshot(str(tmp_path / "replay.png"))
