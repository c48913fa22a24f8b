from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from harken.config import DEFAULT_DATABASE_URL, example_config_text, load_config, parse_duration
from harken.errors import ConfigError
from tests.conftest import write_config

REPO = Path(__file__).resolve().parents[1]


def test_default_layer_when_no_file_exists() -> None:
    config = load_config(environ={})
    assert config.path is None
    assert config.database.url == DEFAULT_DATABASE_URL
    assert config.routing.default == "support"


def test_file_layer_overrides_defaults(tmp_path: Path) -> None:
    write_config(tmp_path, "database: {url: 'sqlite:////tmp/from-file.db'}\n")
    config = load_config(tmp_path / "config.yaml", environ={})
    assert config.database.url == "sqlite:////tmp/from-file.db"


def test_dot_config_yaml_is_found_in_the_working_directory(tmp_path: Path) -> None:
    write_config(tmp_path, "classifier: {batch_size: 7}\n")
    assert load_config(environ={}).classifier.batch_size == 7


def test_env_layer_overrides_file(tmp_path: Path) -> None:
    write_config(tmp_path, "database: {url: 'sqlite:////tmp/from-file.db'}\n")
    config = load_config(environ={"HARKEN_DATABASE_URL": "sqlite:////tmp/from-env.db"})
    assert config.database.url == "sqlite:////tmp/from-env.db"


def test_flag_layer_overrides_env(tmp_path: Path) -> None:
    write_config(tmp_path, "database: {url: 'sqlite:////tmp/from-file.db'}\n")
    config = load_config(
        overrides={"database.url": "sqlite:////tmp/from-flag.db"},
        environ={"HARKEN_DATABASE_URL": "sqlite:////tmp/from-env.db"},
    )
    assert config.database.url == "sqlite:////tmp/from-flag.db"


def test_harken_config_env_picks_the_file(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    write_config(other, "classifier: {batch_size: 3}\n")
    config = load_config(environ={"HARKEN_CONFIG": str(other / "config.yaml")})
    assert config.classifier.batch_size == 3
    assert config.path == (other / "config.yaml").resolve()


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    sub = tmp_path / "demo"
    sub.mkdir()
    write_config(sub, "database: {url: 'sqlite:///harken.db'}\n")
    config = load_config(sub / "config.yaml", environ={})
    assert config.database.url == f"sqlite:///{(sub / 'harken.db').resolve()}"


def test_env_references_resolve_and_are_recorded(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "sources:\n  x: {enabled: true, bearer_token: '${X_TOKEN}'}\n"
        "  reddit: {client_id: '${MISSING_ID:-fallback}'}\n",
    )
    config = load_config(environ={"X_TOKEN": "s3cret"})
    assert config.sources["x"].model_extra == {"bearer_token": "s3cret"}
    assert config.sources["reddit"].model_extra == {"client_id": "fallback"}
    assert config.env_refs == {
        "sources.x.bearer_token": "X_TOKEN",
        "sources.reddit.client_id": "MISSING_ID",
    }


def test_unset_env_reference_becomes_none(tmp_path: Path) -> None:
    write_config(tmp_path, "sources:\n  x: {bearer_token: '${NOT_SET_ANYWHERE}'}\n")
    assert load_config(environ={}).sources["x"].model_extra == {"bearer_token": None}


def test_dotenv_beside_the_config_fills_unset_variables(tmp_path: Path) -> None:
    write_config(tmp_path, "sources:\n  x: {bearer_token: '${X_TOKEN}'}\n  y: {t: '${Y}'}\n")
    (tmp_path / ".env").write_text("# secrets\nX_TOKEN='from-dotenv'\nexport Y=yy\n")
    config = load_config(environ={"Y": "from-env"})
    assert config.sources["x"].model_extra == {"bearer_token": "from-dotenv"}
    assert config.sources["y"].model_extra == {"t": "from-env"}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "routing:\n  rules:\n    - {name: r, to: [support], when: {complaint_gte: high}}\n",
            "routing.rules[0].when.complaint_gte: Input should be a valid number, unable to "
            "parse string as a number; given 'high'",
        ),
        (
            "routing:\n  rules:\n    - {name: r, to: [support], when: {keywordz: [a]}}\n",
            "routing.rules[0].when.keywordz: unknown key (check its spelling); given a list",
        ),
        (
            "departments:\n  - {name: support, sla: soon}\n",
            "departments[0].sla: expected a duration like 30s, 5m, 2h or 7d; given 'soon'",
        ),
        (
            "routing:\n  rules:\n    - {name: r, to: [nowhere]}\n",
            "routing.rules[0].to names department 'nowhere', which is not in departments "
            "(known: support)",
        ),
        ("brands:\n  - {keywords: [acme]}\n", "brands[0].name: Field required"),
        ("classifier: {batch_size: 0}\n", "classifier.batch_size: Input should be greater than or"),
    ],
)
def test_bad_file_names_key_path_expected_and_given(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    path = write_config(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(f"{path}: {message}")


def test_every_problem_of_a_file_is_named_at_once(tmp_path: Path) -> None:
    """Three typos are one error naming all three, not three runs to find them."""
    path = write_config(
        tmp_path,
        "departments:\n  - {name: support, sla: 5x}\nrouting: {rulez: []}\n"
        "classifier: {topic_threshold: 3}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == (
        f"{path}: departments[0].sla: expected a duration like 30s, 5m, 2h or 7d; given '5x'"
        " | also routing.rulez: unknown key (check its spelling); given a list"
        " | also classifier.topic_threshold: Input should be less than or equal to 1; given 3"
    )
    # A value that fits no member of a union is one problem, under the key as written.
    # A key of the file is kept whatever it looks like (a topic named "str" is not a type).
    path = write_config(tmp_path, "alerts: {console: maybe}\ntopics: {str: 3}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"{path}: topics.str: ") and message.endswith(
        " | also alerts.console: Input should be a valid boolean, unable to interpret input"
        " or Input should be 'auto'; given 'maybe'"
    )
    many = "".join(f"  - {{name: d{n}, sla: {n}x}}\n" for n in range(12))
    path = write_config(tmp_path, f"departments:\n{many}")
    with pytest.raises(ConfigError, match=r"departments\[7\]\.sla: .* \| and 4 more problems$"):
        load_config(path, environ={})


def test_broken_yaml_reports_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "database:\n  url: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config.yaml: .* at line 3"):
        load_config(path, environ={})


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write_config(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping of settings at the top, got a list"):
        load_config(path, environ={})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'nope.yaml' \(from --config\) does not exist"):
        load_config("nope.yaml", environ={})
    with pytest.raises(ConfigError, match=r"from \$HARKEN_CONFIG"):
        load_config(environ={"HARKEN_CONFIG": "gone.yaml"})


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1.5h", 5400), ("7d", 604800), (90, 90)]
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_example_config_is_valid_and_root_copy_matches() -> None:
    root_copy = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert root_copy == example_config_text(), "config.yaml and harken/data/config.yaml differ"
    config = load_config(REPO / "config.yaml", environ={})
    assert [d.name for d in config.departments][:3] == ["support", "engineering", "billing"]
    assert config.brands[0].name == "Acme"


def test_risk_weights_load_and_name_known_topics(tmp_path: Path) -> None:
    good = write_config(
        tmp_path,
        "topics: {security: [data breach]}\nrisk: {topics: {security: 0.3}, velocity: 0.5}\n",
    )
    config = load_config(good)
    assert config.risk.topics == {"security": 0.3} and config.risk.velocity == 0.5
    bad = write_config(tmp_path, "risk: {topics: {safety: 0.3}}\n")
    with pytest.raises(ConfigError, match=r"risk\.topics names 'safety'"):
        load_config(bad)
    out_of_range = write_config(tmp_path, "risk: {complaint: 3}\n")
    with pytest.raises(ConfigError, match=r"risk\.complaint: .*less than or equal to 1"):
        load_config(out_of_range)


# -- hostile and careless configs -------------------------------------------------------------

PASSWORD_URL = "postgresql+psycopg://bob:s3cret-Passw0rd@db.internal:5432/harken"
WEBHOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx"


@pytest.mark.parametrize(
    ("yaml_text", "environ", "shown"),
    [
        # a URL with a password where a mapping was expected
        ('database: "${HARKEN_DB}"\n', {"HARKEN_DB": PASSWORD_URL}, "<the value of $HARKEN_DB>"),
        # a webhook where a mapping was expected
        ('alerts: {slack: "${HOOK}"}\n', {"HOOK": WEBHOOK}, "<the value of $HOOK>"),
        # a long secret where a number was expected: never shown even in part
        ('classifier: {batch_size: "${TOKEN}"}\n', {"TOKEN": "x" * 100}, "<the value of $TOKEN>"),
        # part of a value
        ('departments: "prefix ${HOOK}"\n', {"HOOK": WEBHOOK}, "'prefix <the value of $HOOK>'"),
        # written in the file itself: masked by its shape
        (f'departments: "{PASSWORD_URL}"\n', {}, "postgresql+psycopg://bob:***@db.internal"),
        (f"departments: {WEBHOOK}\n", {}, "'https://hooks.slack.com/services/***'"),
    ],
)
def test_config_errors_never_show_a_secret(
    tmp_path: Path, yaml_text: str, environ: dict[str, str], shown: str
) -> None:
    path = write_config(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    message = str(caught.value)
    assert shown in message
    for secret in ("s3cret-Passw0rd", "abcdefghijklmnop", "x" * 20):
        assert secret not in message


def test_an_env_override_is_masked_in_errors_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            overrides={"database": PASSWORD_URL}, environ={"HARKEN_CLASSIFIER_MODEL": "x" * 9}
        )
    assert "s3cret" not in str(caught.value)


def test_doctor_and_every_command_mask_a_secret_in_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from harken.cli import app

    write_config(tmp_path, 'database: "${HARKEN_DB}"\n')
    monkeypatch.setenv("HARKEN_DB", PASSWORD_URL)
    for args in (["doctor", "--skip-model"], ["-vv", "doctor", "--skip-model"], ["queue", "list"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1
        assert "<the value of $HARKEN_DB>" in result.output
        assert "s3cret" not in result.output


def billion_laughs(levels: int) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        this, below = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{this}: &{this} [{', '.join([f'*{below}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = write_config(tmp_path, billion_laughs(9))  # 400 bytes, 9^9 values once expanded
    assert path.stat().st_size < 450
    with pytest.raises(ConfigError, match=r"expands to more than 100,000 values .* at line 6"):
        load_config(path, environ={})


def test_aliases_of_reasonable_size_still_work(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "brands:\n"
        "  - {name: Acme, keywords: &words [acme, acme cloud]}\n"
        "  - {name: Acme Japan, keywords: *words, languages: [ja]}\n",
    )
    brands = load_config(path, environ={}).brands
    assert [b.keywords for b in brands] == [["acme", "acme cloud"]] * 2


@pytest.mark.parametrize(
    "yaml_text",
    ["x: " + "[" * 900 + "]" * 900 + "\n", "".join("  " * i + f"k{i}:\n" for i in range(900))],
)
def test_absurd_nesting_is_an_error_not_a_traceback(tmp_path: Path, yaml_text: str) -> None:
    path = write_config(tmp_path, yaml_text)
    with pytest.raises(ConfigError, match=r"nested more than 32 levels deep at line \d+"):
        load_config(path, environ={})


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write_config(tmp_path, "# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ConfigError, match=r"2,097,155 bytes: too large for a config file"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("departments: [{name: support, sla: 99999999999d}]\n", "departments[0].sla: expected a"),
        ("alerts: {cooldown: 1.0e+400}\n", "alerts.cooldown: expected a duration from 0s to 100"),
        ("alerts: {cooldown: -5}\n", "alerts.cooldown: expected a duration from 0s to 100"),
        ("alerts: {slack: {timeout: 0s}}\n", "alerts.slack.timeout: expected a timeout between"),
        ("routing: {regex_budget: 0s}\n", "routing.regex_budget: expected between 1ms and 10s"),
    ],
)
def test_durations_have_sane_bounds(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = write_config(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert message in str(caught.value)


def test_durations_take_milliseconds_and_refuse_absurd_values() -> None:
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    for absurd in ("1000000d", "99999999999w", float("nan"), float("inf"), -1):
        with pytest.raises(ValueError, match="expected a duration from 0s to 100 years"):
            parse_duration(absurd)
