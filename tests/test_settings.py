"""Settings from the environment and a .env file, with clear errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError
from knowledge.loader import SAMPLE_DIR


def from_env(env: dict[str, str], dotenv: Path | None = None) -> Settings:
    return Settings.from_env(environ=env, dotenv=dotenv)


def write_dotenv(folder: Path, content: str) -> Path:
    path = folder / ".env"
    path.write_text(content, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = from_env({})
    assert settings.db_path == "ondo.db"
    assert settings.kb_paths == (SAMPLE_DIR,)
    assert settings.port == 3000
    assert settings.llm_model == "gpt-4o-mini"
    assert settings.handoff_channel is None
    assert settings.openai_api_key is None
    assert settings.llm_enabled is False
    assert settings == Settings()


def test_values_from_the_environment() -> None:
    settings = from_env(
        {
            "ONDO_DB": "/data/온도.db",
            "ONDO_KB": "kb/faq.yaml",
            "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
            "ONDO_LLM_MODEL": "qwen2.5",
            "ONDO_HANDOFF_CHANNEL": "slack:C0123",
            "SLACK_BOT_TOKEN": "xoxb-1",
            "DISCORD_TOKEN": "dt",
            "ONDO_ENCRYPTION_KEY": "k",
            "PORT": " 8080 ",
        }
    )
    assert settings.db_path == "/data/온도.db"
    assert settings.kb_paths == (Path("kb/faq.yaml"),)
    assert settings.openai_base_url == "http://127.0.0.1:11434/v1"
    assert settings.llm_model == "qwen2.5"
    assert settings.llm_enabled is True
    assert settings.handoff_channel == "slack:C0123"
    assert (settings.slack_bot_token, settings.discord_token) == ("xoxb-1", "dt")
    assert settings.encryption_key == "k"
    assert settings.port == 8080


def test_blank_values_mean_unset() -> None:
    settings = from_env({"ONDO_DB": "  ", "OPENAI_API_KEY": "", "PORT": ""})
    assert (settings.db_path, settings.openai_api_key, settings.port) == ("ondo.db", None, 3000)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("a.yaml:b,c", ("a.yaml", "b", "c")),
        ("지식/자주묻는질문.yaml,정책", ("지식/자주묻는질문.yaml", "정책")),
        ("kb/faq.csv : kb/policies", ("kb/faq.csv", "kb/policies")),
    ],
)
def test_kb_is_split_on_colon_and_comma(spec: str, expected: tuple[str, ...]) -> None:
    assert from_env({"ONDO_KB": spec}).kb_paths == tuple(Path(p) for p in expected)


def test_dotenv_is_read_and_real_environment_wins(tmp_path: Path) -> None:
    dotenv = write_dotenv(
        tmp_path,
        "ONDO_DB=from-dotenv.db\nPORT=4000\nONDO_KB=지식.yaml\nONDO_HANDOFF_CHANNEL=discord:123\n",
    )
    settings = from_env({"ONDO_DB": "real.db"}, dotenv)
    assert settings.db_path == "real.db"
    assert settings.port == 4000
    assert settings.kb_paths == (Path("지식.yaml"),)
    assert settings.handoff_channel == "discord:123"


def test_missing_dotenv_is_ignored(tmp_path: Path) -> None:
    assert from_env({}, tmp_path / ".env") == Settings()


def test_reads_os_environ_and_dotenv_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dotenv(tmp_path, "ONDO_LLM_MODEL=from-dotenv\nONDO_DB=dotenv.db\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONDO_DB", "env.db")
    settings = Settings.from_env()
    assert (settings.db_path, settings.llm_model) == ("env.db", "from-dotenv")


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "80.5", "²", "3000abc"])
def test_bad_port_names_the_variable(port: str) -> None:
    with pytest.raises(SettingsError, match="PORT"):
        from_env({"PORT": port})


def test_bad_port_in_dotenv_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PORT"):
        from_env({}, write_dotenv(tmp_path, "PORT=http\n"))


@pytest.mark.parametrize(
    "channel", ["C0123", "general", "#고객지원", "teams:abc", "Slack:C1", "slack:", "discord:staff"]
)
def test_bad_handoff_channel_names_the_variable(channel: str) -> None:
    with pytest.raises(SettingsError, match="ONDO_HANDOFF_CHANNEL") as caught:
        from_env({"ONDO_HANDOFF_CHANNEL": channel})
    assert repr(channel) in str(caught.value)


@pytest.mark.parametrize("channel", ["slack:C0123", "discord:998877"])
def test_good_handoff_channels(channel: str) -> None:
    assert from_env({"ONDO_HANDOFF_CHANNEL": channel}).handoff_channel == channel


@pytest.mark.parametrize(
    ("name", "value"),
    [("ONDO_DISCORD_CHANNELS", "123,support"), ("ONDO_DISCORD_STAFF_ROLE", "Staff")],
)
def test_discord_ids_must_be_numbers(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        from_env({name: value})


def test_discord_ids_are_read() -> None:
    settings = from_env({"ONDO_DISCORD_CHANNELS": "111, 222;333", "ONDO_DISCORD_STAFF_ROLE": "9"})
    assert settings.discord_channels == (111, 222, 333)
    assert settings.discord_staff_role == 9
