"""Benchmark the dashboard: time until the request list is interactive in headless Chromium, with a full
journal (10,000 entries) against an empty one, measured in the same run.

Two `aiml-mock serve` processes, one left empty and one given 10,000 generations (a journal sized for them).
Each round opens `/__mock/ui` on each in turn, in a fresh tab, and reads the time from navigation start until
the first page of rows is rendered and the script has bound its controls (`window.dashboardReady`, set by
dashboard.js). The same for a filtered list (`?model=dall-e-3&verdict=invalid`: one entry in 14 matches, so its
page is found without reading the whole journal). The detail and gallery pages are timed to their load event.
Also, server-side, one poll of the list API, a filtered page, a filter nothing matches (every entry's brief
read) and an unchanged poll (what the page asks every second), timed over HTTP. Medians over rounds.

    python bench/bench_dashboard.py [--entries 10000] [--rounds 9]

Needs Debian's `chromium` and `chromium-driver`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import harness

os.environ["SE_OFFLINE"] = "true"
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1400,900")


@contextmanager
def serve(entries: int) -> Iterator[str]:
    command = [sys.executable, "-m", "aiml_mock", "serve", "--port", "0", "--journal-size", str(max(entries, 1)),
               "--journal-bytes", str(1 << 31)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split("listening on ")[1].split()[0]
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)


def fill(url: str, count: int, threads: int = 4) -> None:
    """`count` generations over keep-alive connections: varied prompts, a few with a typo'd field."""
    host, port = url.removeprefix("http://").split(":")

    def work(start: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        for index in range(start, count, threads):
            body: dict[str, object] = {"model": ("dall-e-2", "dall-e-3")[index % 2], "prompt": f"bench prompt {index}"}
            if index % 2 == 0:
                body["size"] = "256x256"
            if index % 7 == 0:
                body["colour"] = "blue"
            connection.request("POST", "/v1/images/generations", json.dumps(body),
                               {"Authorization": f"Bearer {harness.API_KEY}", "Content-Type": "application/json"})
            connection.getresponse().read()
        connection.close()

    workers = [threading.Thread(target=work, args=(start,)) for start in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def browser(profile: str) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))


FILTER = "model=dall-e-3&verdict=invalid"


def interactive_ms(driver: WebDriver, url: str, query: str = "") -> float:
    """Navigation start to the first rendered page of rows, in a fresh tab."""
    driver.switch_to.new_window("tab")
    driver.get(f"{url}/__mock/ui" + (f"?{query}" if query else ""))
    ready = WebDriverWait(driver, 30, poll_frequency=0.01).until(lambda d: d.execute_script(
        "return window.dashboardReady"))
    driver.close()
    driver.switch_to.window(driver.window_handles[0])
    return float(ready)


def loaded_ms(driver: WebDriver, url: str) -> float:
    driver.get(url)
    WebDriverWait(driver, 30, poll_frequency=0.01).until(lambda d: d.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n && n.loadEventEnd > 0"))
    return float(driver.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd"))


def api_ms(url: str, query: str) -> float:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    started = time.perf_counter()
    connection.request("GET", f"/__mock/ui/api/requests?{query}")
    connection.getresponse().read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(harness.machine())
    chromium = subprocess.check_output(["chromium", "--version"], text=True, stderr=subprocess.DEVNULL).strip()
    print(harness.versions("starlette", "jinja2", "selenium"), "|", chromium)
    profile = tempfile.mkdtemp(prefix="aiml-mock-bench-chromium-")
    with serve(0) as empty, serve(args.entries) as full:
        started = time.perf_counter()
        fill(full, args.entries)
        print(f"filled the journal with {args.entries} entries in {time.perf_counter() - started:.1f} s")
        driver = browser(profile)
        try:
            figures: dict[str, list[float]] = {name: [] for name in (
                "list empty", "list full", "filtered empty", "filtered full", "detail empty", "detail full",
                "gallery empty", "gallery full")}
            generate_one(empty)
            interactive_ms(driver, empty), interactive_ms(driver, full)  # warm-up: the browser's own start
            for _ in range(args.rounds):
                figures["list empty"].append(interactive_ms(driver, empty))
                figures["list full"].append(interactive_ms(driver, full))
                figures["filtered empty"].append(interactive_ms(driver, empty, FILTER))
                figures["filtered full"].append(interactive_ms(driver, full, FILTER))
                figures["detail empty"].append(loaded_ms(driver, f"{empty}/__mock/ui/requests/1"))
                figures["detail full"].append(loaded_ms(driver, f"{full}/__mock/ui/requests/{args.entries // 2}"))
                figures["gallery empty"].append(loaded_ms(driver, f"{empty}/__mock/ui/images"))
                figures["gallery full"].append(loaded_ms(driver, f"{full}/__mock/ui/images"))
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
        polls = {name: statistics.median(api_ms(full, query) for _ in range(args.rounds)) for name, query in (
            ("first page", "offset=0"), ("filtered page", FILTER), ("no match", "model=flux/schnell"),
            ("unchanged poll", f"since={journal_version(full)}"))}
    print(f"\nmedians over {args.rounds} rounds, {args.entries} entries vs an empty journal (1 entry for detail):")
    for view in ("list", "filtered", "detail", "gallery"):
        base, loaded = statistics.median(figures[f"{view} empty"]), statistics.median(figures[f"{view} full"])
        what = "interactive" if view in ("list", "filtered") else "load event"
        print(f"  {view:8} {what:12} empty {base:7.1f} ms   full {loaded:7.1f} ms   ratio {loaded / base:5.2f}x")
    print("  list API over HTTP (full journal): " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in polls.items()))


def generate_one(url: str) -> None:
    fill(url, 1, threads=1)


def journal_version(url: str) -> str:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", "/__mock/ui/api/requests?limit=1")
    version: str = json.load(connection.getresponse())["version"]
    connection.close()
    return version


if __name__ == "__main__":
    main()
