"""Benchmark the `aiml_mock` fixture's cost per test: N trivial tests with it against the same N without it.

Each variant is a generated suite run by pytest in a subprocess; a small conftest times the test loop only
(`pytest_runtestloop`: startup and collection excluded), so the difference is what the fixture adds per
test: the reset before each test, plus the session's mock started once (its cost amortised over N, and also
shown alone). Variants run interleaved, best of `--rounds`, so a machine that drifts affects all alike.

    /work/venv/bin/python bench/bench_pytest_overhead.py [--tests 500] [--rounds 3]

Variants: `bare` (`def test(): pass`), `fixture` (`def test(aiml_mock): pass`), `marker` (the same with
`@pytest.mark.aiml_mock(seed=1)`: a settings swap before and after each test) and `request` (the fixture
plus one SDK call per test, for scale).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = '''
import json, time
import pytest

TIMES = {}

@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        TIMES["loop"] = time.perf_counter() - started

def pytest_runtest_logreport(report):
    if report.when == "setup" and "setup" not in TIMES:
        TIMES["setup"] = report.duration  # the first test's setup: it starts the session's mock

def pytest_unconfigure(config):
    with open("times.json", "w") as out:
        json.dump(TIMES, out)
'''

BODIES = {
    "bare": "def test_{i}():\n    pass\n",
    "fixture": "def test_{i}(aiml_mock):\n    pass\n",
    "marker": "@pytest.mark.aiml_mock(seed=1)\ndef test_{i}(aiml_mock):\n    pass\n",
    "request": "def test_{i}(aiml_mock, aiml_mock_openai):\n"
               "    aiml_mock_openai.images.generate(model='dall-e-2', prompt='p{i}', size='256x256')\n",
}


def write_suite(folder: Path, variant: str, tests: int) -> None:
    folder.mkdir(parents=True)
    (folder / "conftest.py").write_text(CONFTEST)
    body = "".join(BODIES[variant].format(i=i) + "\n" for i in range(tests))
    (folder / "test_generated.py").write_text("import pytest\n\n" + body)


def run(folder: Path) -> dict[str, float]:
    env = {key: value for key, value in os.environ.items() if key != "AIML_MOCK_URL"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "."]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"the {folder.name} suite failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    times: dict[str, float] = json.loads((folder / "times.json").read_text())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="bare,fixture,marker,request")
    args = parser.parse_args()
    variants = args.variants.split(",")
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            write_suite(Path(tmp) / variant, variant, args.tests)
        for _ in range(args.rounds):
            for variant in variants:
                times = run(Path(tmp) / variant)
                if variant not in best or times["loop"] < best[variant]["loop"]:
                    best[variant] = times
    report(best, variants, args.tests, args.rounds)


def report(best: dict[str, dict[str, float]], variants: list[str], tests: int, rounds: int) -> None:
    """Per variant: the loop, per test, and the cost over `bare`, split into the first test's setup (the
    session's mock starting: imports, contract, socket) and what every later test pays (steady)."""
    print(f"{tests} tests per suite, best of {rounds} rounds; Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}. Test loop only (startup, collection excluded).")
    bare = best.get("bare")
    for variant in variants:
        loop, first = best[variant]["loop"], best[variant]["setup"]
        line = f"  {variant:8} {loop:7.3f} s  {loop / tests * 1000:7.3f} ms/test"
        if bare is not None and variant != "bare":
            steady = ((loop - first) - (bare["loop"] - bare["setup"])) / (tests - 1) * 1000
            line += f"   over bare: {steady:+7.3f} ms/test steady, first setup {first * 1000:6.1f} ms"
            line += f", x{loop / bare['loop']:.2f} overall"
        print(line)
    if bare is not None and "fixture" in best:
        fixture = best["fixture"]
        steady = ((fixture["loop"] - fixture["setup"]) - (bare["loop"] - bare["setup"])) / (tests - 1) * 1000
        amortised = (fixture["loop"] - bare["loop"]) / tests * 1000
        verdict = "met" if steady < 2 else "NOT met"
        print(f"aiml_mock: {steady:.3f} ms per test steady (target < 2 ms: {verdict}); {amortised:.3f} ms with the "
              f"one-off start ({fixture['setup'] * 1000:.0f} ms) spread over {tests} tests")


if __name__ == "__main__":
    main()
