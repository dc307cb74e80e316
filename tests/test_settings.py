"""Settings from keywords and AIML_MOCK_* variables, with profile defaults."""

from __future__ import annotations

import pytest

from aiml_mock.core.settings import Settings


def test_environment_variables_use_the_setting_names() -> None:
    env = {"AIML_MOCK_API_KEYS": "a, b,,c", "AIML_MOCK_SUCCESS_STATUS": "200", "AIML_MOCK_STRICT": "true",
           "AIML_MOCK_PORT": "0", "AIML_MOCK_PROFILE": "openai"}
    settings = Settings.from_env(env)
    assert settings.api_keys == ("a", "b", "c")
    assert settings.success_status == 200 and settings.strict and settings.port == 0
    assert settings.profile == "openai"


def test_keyword_overrides_win_over_the_environment() -> None:
    assert Settings.from_env({"AIML_MOCK_SEED": "3"}, seed=9).seed == 9


def test_profile_decides_dialect_and_status_unless_overridden() -> None:
    assert Settings().effective_error_style == "aimlapi" and Settings().effective_success_status is None
    openai = Settings(profile="openai")
    assert openai.effective_error_style == "openai" and openai.effective_success_status == 200
    assert Settings(profile="openai", error_style="aimlapi").effective_error_style == "aimlapi"


@pytest.mark.parametrize("bad", [{"profile": "azure"}, {"success_status": 404}, {"image_ttl": 0},
                                 {"error_style": "xml"}])
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Settings(**bad)  # type: ignore[arg-type]


def test_the_protocol_is_a_setting_like_the_others() -> None:
    assert Settings().protocol is None  # each host picks its default: stock for MockServer, fast for serve
    assert Settings.from_env({"AIML_MOCK_PROTOCOL": "stock"}).protocol == "stock"
    assert Settings(protocol="fast").replace(protocol="stock").protocol == "stock"
    with pytest.raises(ValueError, match="protocol must be fast or stock"):
        Settings(protocol="slow")  # type: ignore[arg-type]
