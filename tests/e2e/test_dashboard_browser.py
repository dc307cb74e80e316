"""The dashboard in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`) driven by
Selenium, against a real `aiml-mock serve` on port 0.

Selenium Manager is kept offline (`SE_OFFLINE`, the driver's path given): nothing is downloaded. Without
chromium the tests skip on a developer machine and fail in CI (`CI` set), where `.ci/run` installs it.
Screenshots of the main views are written to `artifacts/dashboard/` (or `$AIML_MOCK_ARTIFACTS`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("AIML_MOCK_ARTIFACTS") or Path(__file__).parents[2] / "artifacts" / "dashboard")
WAIT = 15.0
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1400,900")

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are required in CI (.ci/run installs chromium and "
                    "chromium-driver)", pytrace=False)
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
                allow_module_level=True)

os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for drivers or browsers online
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@contextmanager
def serve(*args: str) -> Iterator[str]:
    """`aiml-mock serve` on a free port; its URL, read from the banner (which links the dashboard)."""
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            banner = [process.stdout.readline() for _ in range(3)]
            assert "listening on http://" in banner[0], banner
            url = banner[0].split("listening on ")[1].split()[0]
            assert f"dashboard:  {url}/__mock/ui" in banner[2], banner
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)


def generate(url: str, prompt: str = "a lighthouse at dusk", **fields: Any) -> int:
    body = {"model": "dall-e-2", "prompt": prompt, "size": "256x256", **fields}
    request = urllib.request.Request(f"{url}/v1/images/generations", data=json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1 only)
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="aiml-mock-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def mock() -> Iterator[str]:
    with serve() as url:
        yield url


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = WAIT) -> Any:
    """Wait for a condition; the list re-renders its rows on every poll, so a row read mid-render is retried."""
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def click(driver: WebDriver, selector: str) -> None:
    """Click the element a CSS selector names, again if a poll replaced it between the find and the click."""
    def clicked(d: WebDriver) -> bool:
        d.find_element(By.CSS_SELECTOR, selector).click()
        return True
    wait(driver, clicked)


def open_page(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true")


def row_texts(driver: WebDriver) -> list[str]:
    return [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#rows tr")]


def screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_new_requests_appear_in_the_list_without_a_reload(browser: WebDriver, mock: str) -> None:
    open_page(browser, f"{mock}/__mock/ui")
    assert browser.find_element(By.ID, "empty").is_displayed()
    browser.execute_script("window.sameDocument = true")
    generate(mock, prompt="first prompt")
    wait(browser, lambda d: any("first prompt" in text for text in row_texts(d)))
    generate(mock, prompt="second prompt", colour="blue")
    wait(browser, lambda d: len(row_texts(d)) == 2)  # nothing else: the page's own requests are not journaled
    newest, oldest = wait(browser, row_texts)  # read again if a poll re-rendered the rows meanwhile
    assert "second prompt" in newest and "1 violation" in newest and "201" in newest
    assert "first prompt" in oldest and "valid" in oldest
    assert browser.execute_script("return window.sameDocument") is True  # the same page, updated in place


def test_the_list_filters_and_a_row_opens_its_detail(browser: WebDriver, mock: str) -> None:
    generate(mock, prompt="valid one")
    generate(mock, prompt="with a typo", colour="blue")
    open_page(browser, f"{mock}/__mock/ui")
    wait(browser, lambda d: len(row_texts(d)) == 2)
    Select(browser.find_element(By.NAME, "verdict")).select_by_value("invalid")
    wait(browser, lambda d: len(row_texts(d)) == 1 and "with a typo" in row_texts(d)[0])
    assert "verdict=invalid" in browser.current_url  # the filter is in the address, to share
    click(browser, "#rows tr td.prompt")
    wait(browser, ec.presence_of_element_located((By.ID, "violations")))
    violation = browser.find_element(By.CSS_SELECTOR, "#violations tbody tr").text
    assert "/colour" in violation and "additionalProperties" in violation
    image = browser.find_element(By.CSS_SELECTOR, ".tile img")
    wait(browser, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == 256)
    assert "not downloaded yet" in browser.find_element(By.CSS_SELECTOR, ".tile figcaption").text
    assert '"prompt": "with a typo"' in browser.find_element(By.ID, "request-body").text


def test_a_fault_added_from_the_controls_fails_the_next_request(browser: WebDriver, mock: str) -> None:
    open_page(browser, f"{mock}/__mock/ui/controls")
    assert browser.find_element(By.ID, "no-rules").is_displayed()
    Select(browser.find_element(By.ID, "fault-kind")).select_by_value("503")
    browser.find_element(By.ID, "add-fault").click()
    wait(browser, lambda d: "Rule 1 added" in d.find_element(By.ID, "notice").text)
    assert "503" in browser.find_element(By.ID, "rule-rows").text
    assert generate(mock) == 503
    assert generate(mock) == 201  # times=1: the rule is used up
    open_page(browser, f"{mock}/__mock/ui")
    wait(browser, lambda d: len(row_texts(d)) == 2 and "503" in row_texts(d)[1])


def test_latency_and_clearing_the_journal_from_the_controls(browser: WebDriver, mock: str) -> None:
    generate(mock)
    open_page(browser, f"{mock}/__mock/ui/controls")
    latency = browser.find_element(By.ID, "latency")
    latency.send_keys("40ms")
    browser.find_element(By.ID, "set-latency").click()
    wait(browser, lambda d: "Latency set to 40ms" in d.find_element(By.ID, "notice").text)
    generate(mock, prompt="slow")
    with urllib.request.urlopen(f"{mock}/__mock/requests", timeout=10) as response:  # noqa: S310
        assert json.load(response)["requests"][0]["duration_ms"] >= 40
    browser.refresh()
    wait(browser, lambda d: d.find_element(By.ID, "journal-count").text == "2")
    clear = browser.find_element(By.ID, "clear-journal")
    clear.click()
    assert clear.text == "Click again to clear"
    clear.click()
    wait(browser, lambda d: d.find_element(By.ID, "journal-count").text == "0")


def test_a_hostile_prompt_shows_as_text_and_runs_nothing(browser: WebDriver, mock: str) -> None:
    hostile = ['<script>window.pwned = 1; alert("script")</script>',
               '<img src=x onerror="window.pwned = 2; alert(\'img\')">']
    open_page(browser, f"{mock}/__mock/ui")
    for prompt in hostile:
        generate(mock, prompt=prompt, style=prompt)
    wait(browser, lambda d: len(row_texts(d)) == 2)
    shown = wait(browser, lambda d: [cell.get_attribute("textContent")
                                     for cell in d.find_elements(By.CSS_SELECTOR, "#rows td.prompt")])
    assert shown == hostile[::-1]
    for page in (f"{mock}/__mock/ui", f"{mock}/__mock/ui/requests/1", f"{mock}/__mock/ui/requests/2"):
        open_page(browser, page)
        assert browser.execute_script("return window.pwned") is None
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018
        assert browser.find_elements(By.CSS_SELECTOR, "img[src='x'], script:not([src])") == []
    assert hostile[1] in browser.find_element(By.ID, "request-body").text.replace('\\"', '"')


def test_with_an_admin_token_the_dashboard_asks_for_it_once(browser: WebDriver) -> None:
    with serve("--admin-token", "s3cret-token") as url:
        generate(url)
        browser.delete_all_cookies()
        browser.get(f"{url}/__mock/ui")
        token = wait(browser, ec.presence_of_element_located((By.ID, "token")))
        screenshot(browser, "login")
        token.send_keys("wrong")
        browser.find_element(By.ID, "login").click()
        wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
        browser.find_element(By.ID, "token").send_keys("s3cret-token")
        browser.find_element(By.ID, "login").click()
        wait(browser, lambda d: len(row_texts(d)) == 1)
        cookie = browser.get_cookie("aiml_mock_ui")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert browser.execute_script("return document.cookie") == ""  # script cannot read it
        browser.find_element(By.CSS_SELECTOR, "form[action$='/logout'] button").click()
        wait(browser, ec.presence_of_element_located((By.ID, "token")))


def test_screenshots_of_the_main_views(browser: WebDriver, mock: str) -> None:
    """A busy journal (successes, a typo, a bad size, an injected 429 and 503, a download), pictured."""
    prompts = ["A T-Rex relaxing on a beach, wearing sunglasses", "a lighthouse at dusk, oil painting",
               "isometric city block, night, neon", "a bowl of ramen, studio lighting"]
    for index, prompt in enumerate(prompts):
        generate(mock, prompt=prompt, size=("256x256", "512x512", "1024x1024")[index % 3], n=1 + index % 2)
    generate(mock, prompt="a cat in a hat", colour="blue")
    generate(mock, prompt="a cat in a hat", size="300x300")
    rules = json.dumps([{"status": 429, "retry_after": 0.01}, {"status": 503}]).encode()
    faults = urllib.request.Request(f"{mock}/__mock/faults", rules, {"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(faults, timeout=10).close()  # noqa: S310
    generate(mock, prompt="a watercolour fox")
    generate(mock, prompt="a watercolour fox")
    generate(mock, prompt="a watercolour fox", model="dall-e-3", size="1024x1024", quality="hd")
    with urllib.request.urlopen(f"{mock}/__mock/images", timeout=10) as response:  # noqa: S310
        first = json.load(response)["images"][-1]["url"]
    urllib.request.urlopen(first, timeout=10).close()  # noqa: S310 (the client's download)
    browser.set_window_size(1400, 900)
    open_page(browser, f"{mock}/__mock/ui")
    wait(browser, lambda d: len(row_texts(d)) == 10)  # 9 generations and the download
    screenshot(browser, "requests")
    open_page(browser, f"{mock}/__mock/ui/requests/5")
    screenshot(browser, "request")
    open_page(browser, f"{mock}/__mock/ui/images")
    wait(browser, lambda d: all(d.execute_script("return arguments[0].complete", img)
                                for img in d.find_elements(By.CSS_SELECTOR, ".tile img")))
    screenshot(browser, "images")
    open_page(browser, f"{mock}/__mock/ui/controls")
    browser.find_element(By.NAME, "model").send_keys("dall-e-3")
    Select(browser.find_element(By.ID, "fault-kind")).select_by_value("429")
    browser.find_element(By.ID, "add-fault").click()
    wait(browser, lambda d: "Rule 3 added" in d.find_element(By.ID, "notice").text)
    screenshot(browser, "controls")
    assert {path.name for path in ARTIFACTS.glob("*.png")} >= {"requests.png", "request.png", "images.png",
                                                               "controls.png"}


def test_under_state_one_replicas_dashboard_shows_and_scripts_the_other(browser: WebDriver) -> None:
    """Two `serve --state` replicas on a real redis-server: requests sent to A appear live in B's list, and a
    fault rule added from B's controls fails A's next request."""
    from tests.test_redis_state import SIGNING_KEY, redis_server

    with redis_server() as (_, port):
        state = ("--state", f"redis://127.0.0.1:{port}/0", "--signing-key", SIGNING_KEY)
        with serve(*state) as a, serve(*state) as b:
            open_page(browser, f"{b}/__mock/ui")
            assert "state redis://127.0.0.1:" in browser.find_element(By.ID, "shared").text
            generate(a, prompt="sent to replica A")
            wait(browser, lambda d: any("sent to replica A" in text for text in row_texts(d)))
            open_page(browser, f"{b}/__mock/ui/controls")
            Select(browser.find_element(By.ID, "fault-kind")).select_by_value("503")
            browser.find_element(By.ID, "add-fault").click()
            wait(browser, lambda d: "added" in d.find_element(By.ID, "notice").text)
            assert generate(a) == 503
            assert generate(a) == 201
