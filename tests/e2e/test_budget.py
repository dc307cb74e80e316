"""`aiml-mock serve --budget-usd`: a real process and the official SDK, until the credits run out."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.test_cli import serve

openai = pytest.importorskip("openai", reason="the e2e suite needs the openai SDK (pip install -e '.[test]')")


def usage(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/__mock/usage", timeout=10) as response:  # noqa: S310 (127.0.0.1)
        result: dict[str, object] = json.load(response)
        return result


def test_requests_succeed_until_the_budget_would_pass_then_get_the_out_of_credits_403() -> None:
    with serve("--budget-usd", "0.10") as (_, url):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-budget", max_retries=0)
        for _ in range(2):  # $0.04 each (dall-e-3, standard, 1024x1024): $0.08
            result = client.images.generate(model="dall-e-3", prompt="a lighthouse")
            assert result.data and result.data[0].url
        with pytest.raises(openai.PermissionDeniedError) as caught:  # a third would make $0.12
            client.images.generate(model="dall-e-3", prompt="a lighthouse")
        body = caught.value.body
        assert isinstance(body, dict) and caught.value.status_code == 403
        assert body["message"].startswith("You've run out of credits")
        assert set(body) == {"message", "path", "requestId", "statusCode", "timestamp"} and body["statusCode"] == 403
        cheaper = client.images.generate(model="dall-e-2", prompt="a lighthouse", size="256x256")  # $0.016 fits
        assert cheaper.data
        spent = usage(url)
        assert spent["total"] == {"credits": 192_000, "usd": 0.096, "images": 3, "requests": 3}
        assert spent["by_model"] == {"dall-e-3": {"credits": 160_000, "usd": 0.08, "images": 2, "requests": 2},
                                     "dall-e-2": {"credits": 32_000, "usd": 0.016, "images": 1, "requests": 1}}
        other = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-another", max_retries=0)
        assert other.images.generate(model="dall-e-3", prompt="a lighthouse").data  # the budget is per key


def test_in_the_openai_dialect_the_budget_ends_with_insufficient_quota_429() -> None:
    with serve("--profile", "openai", "--budget-usd", "0.03") as (_, url):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-budget", max_retries=0)
        client.images.generate(model="dall-e-2", prompt="a lighthouse")  # $0.02
        with pytest.raises(openai.RateLimitError) as caught:
            client.images.generate(model="dall-e-2", prompt="a lighthouse")
        assert caught.value.code == "insufficient_quota" and caught.value.type == "insufficient_quota"
        assert "exceeded your current quota" in str(caught.value)
        assert usage(url)["total"] == {"credits": 40_000, "usd": 0.02, "images": 1, "requests": 1}
