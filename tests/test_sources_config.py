"""The annotated example config's sources build as documented; bad source settings fail early."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harken.config import example_config_text, load_config
from harken.errors import ConfigError
from harken.platforms.registry import SOURCES, build_sources
from tests.conftest import write_config

SECRETS = {
    "X_BEARER_TOKEN": "x-token-0123456789",
    "REDDIT_CLIENT_ID": "reddit-id-0123",
    "REDDIT_CLIENT_SECRET": "reddit-secret-0123456789",
    "YOUTUBE_API_KEY": "AIza-example-0123456789",
    "FACEBOOK_PAGE_TOKEN": "EAAG-example-0123456789",
    "INSTAGRAM_ACCESS_TOKEN": "EAAG-example-9876543210",
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_example_source_builds_once_enabled(name: str, tmp_path: Path) -> None:
    tree = yaml.safe_load(example_config_text())
    tree["sources"][name]["enabled"] = True
    path = write_config(tmp_path, yaml.safe_dump(tree, allow_unicode=True))
    (source,) = build_sources(load_config(path, environ=SECRETS))
    try:
        assert source.name == name and source.platform == name
        assert source.settings.interval.total_seconds() > 0
    finally:
        source.close()


def test_an_unknown_source_key_names_its_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, "sources: {x: {enabled: true, bearer_tokn: abc}}\n")
    with pytest.raises(ConfigError, match=r"sources\.x\.bearer_tokn: unknown key for this source"):
        build_sources(load_config(path, environ={}))


def test_a_missing_credential_names_the_variable(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, 'sources: {x: {enabled: true, bearer_token: "${X_BEARER_TOKEN}"}}\n'
    )
    with pytest.raises(ConfigError) as caught:
        build_sources(load_config(path, environ={}))
    assert "sources.x.bearer_token" in str(caught.value)
    assert "set X_BEARER_TOKEN" in str(caught.value)


def test_two_sources_of_one_type_and_an_unknown_type(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "sources:\n"
        "  news: {type: rss, enabled: true, feeds: [https://example.com/a.xml]}\n"
        "  reviews: {type: rss, enabled: true, feeds: [https://example.com/b.xml]}\n",
    )
    names = [s.name for s in build_sources(load_config(path, environ={}))]
    assert names == ["news", "reviews"]
    bad = write_config(tmp_path, "sources: {tiktok: {enabled: true}}\n")
    with pytest.raises(ConfigError, match="unknown source type 'tiktok'"):
        build_sources(load_config(bad, environ={}))


def test_listen_source_must_exist(tmp_path: Path) -> None:
    path = write_config(tmp_path, "sources: {x: {enabled: false}}\n")
    with pytest.raises(ConfigError, match="no source named 'reddit'"):
        build_sources(load_config(path, environ={}), only="reddit")


def test_x_exclusions_can_stay_out_of_the_query() -> None:
    from harken.config import BrandConfig
    from harken.platforms.query import brand_queries
    from harken.platforms.x.source import build_query

    (brand,) = brand_queries([BrandConfig(name="Acme", keywords=["acme"], exclude=["acme anvil"])])
    assert build_query(brand, include_retweets=False) == 'acme -"acme anvil" -is:retweet'
    assert build_query(brand, include_retweets=True, exclude=False) == "acme"
