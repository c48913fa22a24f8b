"""Mentions per second through a live source: HTTP + parse + store, and each part alone.

    .venv/bin/python bench/listen.py [--tweets 5000] [--page 100]

Serves N tweets from the local fake X API (tests/fakes/x.py) in pages, polls them with the
real tweepy client into a fresh SQLite database, and times:

* ``poll``   : the whole poll (HTTP round trips, JSON, parsing, brand filter, store + cursor);
* ``parse``  : the X parser alone on the same pages;
* ``store``  : storing the parsed records alone (one transaction per page, as a poll does).

Ratios matter more than absolute figures on a noisy machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harken.brands import BrandDetector
from harken.config import load_config
from harken.pipeline.collect import poll_source
from harken.pipeline.ingest import store_records
from harken.platforms.registry import build_sources
from harken.platforms.x import parse as x_parser
from harken.records import MentionRecord
from harken.store import Store
from tests.fakes.clock import FakeClock
from tests.fakes.x import FakeX, tweet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tweets", type=int, default=5000)
    parser.add_argument("--page", type=int, default=100)
    args = parser.parse_args()
    fake = FakeX()
    fake.add(
        *[
            tweet(10_000 + i, f"acme cloud sync broke again for the {i}th time, support?")
            for i in range(args.tweets)
        ]
    )
    with fake.api, tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.yaml"
        pages = -(-args.tweets // args.page)
        config_path.write_text(
            "brands: [{name: Acme, keywords: [acme]}]\n"
            "sources: {x: {enabled: true, bearer_token: test-bearer-token, "
            f'api_base_url: "{fake.api.url}", max_results: {args.page}, '
            f"first_poll_pages: {pages + 1}, max_pages: {pages + 1}}}}}\n",
            encoding="utf-8",
        )
        config = load_config(config_path)
        store = Store(f"sqlite:///{tmp}/poll.db")
        (source,) = build_sources(config, runtime=FakeClock().runtime())
        start = time.perf_counter()
        report = poll_source(store, config, source)
        poll_s = time.perf_counter() - start
        assert report.ok and report.stored == args.tweets, report

        bodies = [_page(fake, i, args.page) for i in range(pages)]
        start = time.perf_counter()
        parsed = [[r for r in x_parser.parse(b) if isinstance(r, MentionRecord)] for b in bodies]
        parse_s = time.perf_counter() - start

        store2 = Store(f"sqlite:///{tmp}/store.db")
        brands = BrandDetector(config.brands)
        start = time.perf_counter()
        for records in parsed:
            with store2.session() as session:
                store_records(session, records, brands, "x")
        store_s = time.perf_counter() - start

    n = args.tweets
    print(f"{n} tweets in {pages} pages of {args.page}")
    print(f"poll  (HTTP+parse+store): {poll_s:6.2f}s  {n / poll_s:8.0f} mentions/s")
    print(f"parse only              : {parse_s:6.2f}s  {n / parse_s:8.0f} mentions/s")
    print(f"store only              : {store_s:6.2f}s  {n / store_s:8.0f} mentions/s")
    print(f"store share of the poll : {store_s / poll_s:.0%}; parse share {parse_s / poll_s:.0%}")


def _page(fake: FakeX, index: int, size: int) -> dict:
    page = sorted(fake.tweets, key=lambda t: -int(t["id"]))[index * size : (index + 1) * size]
    return {"data": page, "includes": {"users": list(fake.users.values())}, "meta": {}}


if __name__ == "__main__":
    main()
