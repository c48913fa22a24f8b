"""``harken report ...`` on a small store with known numbers: every report's figures, the
filters, the three formats, the charts, stable reruns, and post text that tries to inject
markup, escape sequences or spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config
from harken.reports.authors import authors
from harken.reports.departments import departments
from harken.reports.incidents import incidents
from harken.reports.scope import Scope
from harken.reports.summary import summary
from harken.reports.tabular import records, report_csv, report_json
from harken.reports.topics import rising_first, topics, trend_of
from harken.reports.trend import trend
from harken.reports.voice import share_of_voice
from harken.store import Store
from harken.store.tables import Author, Classification, Incident, Mention, QueueItem, Spike

H = timedelta(hours=1)
M = timedelta(minutes=1)
UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SINCE = UNTIL - 24 * H
NOW = UNTIL + 2 * H  # when the department report is "run": every due time has passed
SCOPE = Scope(SINCE, UNTIL)

HOSTILE = "[bold red]URGENT[/bold red] acme \x1b[31mred\x1b[0m\x07 [link=http://evil]x[/link]"
FORMULA = '=HYPERLINK("http://evil.example","x") acme charged me twice, refund please'
HOSTILE_HANDLE = "[link=http://evil]@boss[/link]"

CONFIG: dict[str, Any] = {
    "brands": [
        {"name": "Acme", "keywords": ["acme"], "competitors": ["Globex", "Initech"]},
        {"name": "Globex", "keywords": ["globex"]},
    ],
    "departments": [
        {"name": "support", "sla": "1h"},
        {"name": "billing", "sla": "2h"},
        {"name": "legal", "sla": "4h"},
    ],
    "digest": {"timezone": "Asia/Tokyo"},
}


def config() -> Config:
    return Config.model_validate(CONFIG)


class Builder:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.n = 0
        self.authors: dict[str, Author] = {}

    def author(self, handle: str, followers: int | None, platform: str) -> Author:
        if handle not in self.authors:
            author = Author(
                platform=platform, external_id=handle, handle=handle, followers=followers
            )
            self.session.add(author)
            self.session.flush()
            self.authors[handle] = author
        return self.authors[handle]

    def post(
        self,
        at: datetime,
        text: str = "acme is fine",
        *,
        platform: str = "x",
        brand: str = "Acme",
        author: tuple[str, int | None] = ("@someone", 10),
        sentiment: str | None = "neutral",
        complaint: float = 0.1,
        risk: float = 0.1,
        topics: list[str] | None = None,
        incident: Incident | None = None,
        likes: int = 0,
    ) -> Mention:
        self.n += 1
        mention = Mention(
            platform=platform,
            external_id=str(self.n),
            brand=brand,
            text=text,
            created_at=at,
            author_id=self.author(*author, platform).id,  # type: ignore[arg-type]
            incident_id=incident.id if incident else None,
            likes=likes,
        )
        self.session.add(mention)
        self.session.flush()
        if sentiment is not None:
            self.session.add(
                Classification(
                    mention_id=mention.id,  # type: ignore[arg-type]
                    model="test",
                    sentiment=sentiment,
                    complaint=complaint,
                    abuse=0.0,
                    risk=risk,
                    topics=topics or [],
                    language="en",
                )
            )
        return mention

    def incident(self, first: datetime, size: int, status: str = "open") -> Incident:
        self.n += 1
        incident = Incident(
            brand="Acme", key=f"k{self.n}", first_seen=first, last_seen=first, size=size
        )
        incident.status = status
        self.session.add(incident)
        self.session.flush()
        return incident

    def item(
        self,
        mention: Mention,
        department: str,
        sla: timedelta,
        responded: timedelta | None = None,
        closed: timedelta | None = None,
        status: str = "new",
    ) -> QueueItem:
        created = mention.created_at
        item = QueueItem(
            mention_id=mention.id,  # type: ignore[arg-type]
            incident_id=mention.incident_id,
            department=department,
            reason="test",
            created_at=created,
            updated_at=created,
            due_at=created + sla,
            responded_at=created + responded if responded is not None else None,
            closed_at=created + closed if closed is not None else None,
            status=status,
        )
        self.session.add(item)
        self.session.flush()
        return item


@pytest.fixture(scope="module")
def store(module_db_url: str) -> Iterator[Store]:
    """In the window (2026-11-19 12:00 -> 11-20 12:00 UTC): 6 Acme posts on x, 2 on reddit,
    2 Globex posts; the day before: 2 Acme posts. Built once per backend; the tests only
    read it."""
    store = Store(module_db_url)
    with store.session() as s:
        b = Builder(s)
        outage = b.incident(UNTIL - 3 * H, size=4)
        big = ("@bigvoice", 50_000)
        m1 = b.post(
            UNTIL - 3 * H,
            "acme login is down again, outage everywhere",
            author=big,
            sentiment="negative",
            complaint=0.9,
            risk=0.9,
            topics=["outage"],
            incident=outage,
            likes=100,
        )
        b.post(
            UNTIL - 2 * H,
            "acme outage: login broken",
            sentiment="negative",
            complaint=0.8,
            risk=0.7,
            topics=["outage"],
            incident=outage,
        )
        b.post(
            UNTIL - 1 * H,
            "RT acme login down outage",
            author=("@fan", 300),
            sentiment="negative",
            complaint=0.6,
            risk=0.4,
            topics=["outage"],
            incident=outage,
        )
        b.post(UNTIL - 1 * H, HOSTILE, author=(HOSTILE_HANDLE, 5), risk=0.5, incident=outage)
        outage.top_mention_id = m1.id
        billing = b.incident(UNTIL - 20 * H, size=2, status="resolved")
        m5 = b.post(
            UNTIL - 20 * H,
            FORMULA,
            author=("@fan", 300),
            sentiment="negative",
            complaint=0.9,
            risk=0.2,
            topics=["billing"],
            incident=billing,
        )
        billing.top_mention_id = m5.id
        s.add_all([outage, billing])
        b.post(UNTIL - 18 * H, "acme is great", author=big, sentiment="positive", risk=0.05)
        # reddit: one classified, one not classified yet
        m7 = b.post(
            UNTIL - 10 * H,
            "acme billing page is confusing",
            platform="reddit",
            author=("u/redditor", None),
            sentiment="negative",
            complaint=0.3,
            risk=0.65,
            topics=["billing"],
            incident=billing,
        )
        b.post(UNTIL - 9 * H, "acme?", platform="reddit", author=("u/quiet", None), sentiment=None)
        # Globex in the window
        b.post(
            UNTIL - 5 * H,
            "globex rocks",
            brand="Globex",
            author=("@gfan", 1000),
            sentiment="positive",
            likes=7,
        )
        b.post(
            UNTIL - 4 * H,
            "globex is slow",
            brand="Globex",
            author=("@gfan", 1000),
            sentiment="negative",
        )
        # The day before: billing twice (it falls), no outage (it is new now).
        for hours in (5, 10):
            b.post(
                SINCE - hours * H,
                "acme charged me wrong",
                sentiment="negative",
                topics=["billing"],
            )
        b.post(SINCE - 2 * H, "acme billing again", sentiment="negative", topics=["billing"])
        # Queues: support answered m1 in 30 min (met), m5 in 3h (breach); billing resolved
        # m5 in 90 min (met: closed before due 2h); m7 waits in support (breach, overdue).
        b.item(m1, "support", H, responded=30 * M, status="responded")
        b.item(m5, "support", H, responded=3 * H, closed=5 * H, status="resolved")
        b.item(m5, "billing", 2 * H, responded=60 * M, closed=90 * M, status="resolved")
        b.item(m7, "support", H)
        s.add(
            Spike(
                brand="Acme",
                series="volume",
                hour_start=UNTIL - 3 * H,
                count=1,
                baseline=0.1,
                ratio=10.0,
                p_value=0.001,
            )
        )
        s.commit()
    yield store
    store.close()


# --- the numbers ---------------------------------------------------------------------------


def test_summary_counts_sentiment_risk_bands_platforms_and_queues(store: Store) -> None:
    report = summary(store, SINCE, UNTIL)
    assert report.mentions == 10
    assert report.complaints == 4  # 0.9, 0.8, 0.6, 0.9
    assert report.sentiment == {"negative": 6, "neutral": 1, "positive": 2}
    assert report.unclassified == 1
    assert report.risk_bands == {"low": 4, "medium": 2, "high": 2, "critical": 1}
    x, reddit = (row for row in report.by_platform.to_dict(orient="records"))
    assert (x["platform"], x["mentions"], x["complaints"], x["high_risk"]) == ("x", 8, 4, 2)
    assert (reddit["platform"], reddit["mentions"], reddit["open_items"]) == ("reddit", 2, 1)
    assert report.top_risks["id"].tolist() == [1, 2, 7, 4, 3]
    queues = report.queues.set_index("department")
    assert queues.loc["support", "total"] == 3 and queues.loc["support", "new"] == 1
    assert queues.loc["billing", "resolved"] == 1


def test_summary_filters_by_brand_and_platform(store: Store) -> None:
    assert summary(store, SINCE, UNTIL, brand="Globex").mentions == 2
    reddit = summary(store, SINCE, UNTIL, platforms=("reddit",))
    assert reddit.mentions == 2 and reddit.by_platform["platform"].tolist() == ["reddit"]
    assert reddit.queues["total"].sum() == 1


def test_trend_lists_every_hour_with_sentiment_and_marks_the_spike(store: Store) -> None:
    report = trend(store, SCOPE, "hour", "UTC")
    table = report.section("hour").frame
    assert len(table) == 24 and table["mentions"].sum() == 10
    row = table[table["bucket"] == UNTIL - 3 * H].iloc[0]
    assert (row["mentions"], row["negative"], row["complaints"]) == (1, 1, 1)
    assert row["spike"] == "volume" and row["spike_ratio"] == 10.0
    assert table["spike"].notna().sum() == 1
    last = table[table["bucket"] == UNTIL - H].iloc[0]
    assert (last["mentions"], last["negative"], last["neutral"]) == (2, 1, 1)
    assert report.totals["peak_mentions"] == 2


def test_trend_days_are_local_days(store: Store) -> None:
    # 12:00 UTC is 21:00 in Tokyo: the window covers parts of two Tokyo days.
    report = trend(store, SCOPE, "day", "Asia/Tokyo")
    table = report.section("day").frame
    assert [str(b.date()) for b in table["bucket"]] == ["2026-11-19", "2026-11-20"]
    # Before 15:00 UTC on the 19th is still the 19th in Tokyo: the posts at 16:00 (m5) and
    # 18:00 UTC fall on the 20th there; only nothing before 15:00 UTC stays on the 19th.
    assert table["mentions"].tolist() == [0, 10]
    assert trend(store, SCOPE, "day", "UTC").section("day").frame["mentions"].tolist() == [2, 8]
    # The peak's time says its zone: the header gives the window in UTC.
    from harken.reports.tabular import total_text

    assert total_text("peak_at", report.totals["peak_at"], "Asia/Tokyo") == (
        "peak at 2026-11-20 00:00 Asia/Tokyo"
    )


def test_share_of_voice_against_collected_competitors(store: Store) -> None:
    report = share_of_voice(store, config(), SCOPE)
    rows = {r["brand"]: r for r in report.section("brands").frame.to_dict(orient="records")}
    assert rows["Acme"]["mentions"] == 8 and rows["Globex"]["mentions"] == 2
    assert rows["Acme"]["share"] == pytest.approx(0.8)
    # reach: distinct authors' followers: bigvoice 50k + fan 300 + someone 10 + hostile 5
    assert rows["Acme"]["reach"] == 50_315 and rows["Globex"]["reach"] == 1000
    assert rows["Acme"]["engagement"] == 100 and rows["Globex"]["engagement"] == 7
    assert rows["Globex"]["net_sentiment"] == 0.0
    assert any("Initech" in note for note in report.notes)
    only_reddit = share_of_voice(store, config(), Scope(SINCE, UNTIL, platforms=("reddit",)))
    assert only_reddit.section("brands").frame["mentions"].tolist() == [2, 0]


def test_authors_by_reach_and_by_volume_with_open_items(store: Store) -> None:
    report = authors(store, SCOPE, top=3)
    by_reach = report.section("by_reach").frame
    assert by_reach["author"].tolist() == ["@bigvoice", "@gfan", "@fan"]
    by_volume = report.section("by_volume").frame
    # Two posts each: ties go to the bigger audience.
    assert by_volume["author"].tolist() == ["@bigvoice", "@gfan", "@fan"]
    assert by_volume["mentions"].tolist() == [2, 2, 2]
    fan = by_volume[by_volume["author"] == "@fan"].iloc[0]
    assert (fan["mentions"], fan["negative"], fan["open_items"]) == (2, 2, 0)
    redditor = authors(store, SCOPE, top=20).section("by_volume").frame
    assert redditor.set_index("author").loc["u/redditor", "open_items"] == 1


def test_topics_compare_with_the_window_before_rising_first(store: Store) -> None:
    report = topics(store, config(), SCOPE)
    table = report.section("topics").frame
    assert table["topic"].tolist() == ["outage", "billing"]
    outage, billing = table.to_dict(orient="records")
    assert (outage["mentions"], outage["previous"], outage["trend"]) == (3, 0, "new")
    assert (billing["mentions"], billing["previous"], billing["trend"]) == (2, 3, "steady")
    terms = report.section("terms").frame.set_index("term")
    assert terms.loc["login", "posts"] == 3 and terms.loc["login", "trend"] == "new"
    assert "acme" not in terms.index  # the brand's own name says nothing


def test_rising_and_new_first_then_the_rest_by_volume() -> None:
    rows = [("a", 5, 50), ("b", 40, 38), ("c", 12, 0), ("d", 60, 20), ("e", 90, 95)]
    table = pd.DataFrame(
        [
            {"term": t, "posts": n, "trend": trend_of(n, p)[0], "z": trend_of(n, p)[1]}
            for t, n, p in rows
        ]
    )
    ordered = rising_first(table, "posts", "term")
    assert ordered["term"].tolist() == ["d", "c", "e", "b", "a"]
    assert ordered["trend"].tolist() == ["rising", "new", "steady", "steady", "falling"]


def test_trend_labels() -> None:
    assert trend_of(30, 5)[0] == "rising"
    assert trend_of(5, 30)[0] == "falling"
    assert trend_of(5, 0)[0] == "new"
    assert trend_of(11, 10)[0] == "steady"


def test_departments_response_times_sla_and_breaches(store: Store) -> None:
    report = departments(store, config(), SCOPE, NOW)
    rows = {r["department"]: r for r in records(report.section("departments").frame)}
    support = rows["support"]
    assert (support["items"], support["open"], support["overdue"]) == (3, 1, 1)
    assert support["median_first_response_min"] == pytest.approx(105)  # 30 and 180
    assert support["p90_first_response_min"] == pytest.approx(165)
    assert support["median_resolution_min"] == pytest.approx(300)
    assert (support["sla_judged"], support["sla_met"], support["breaches"]) == (3, 1, 2)
    billing = rows["billing"]
    assert billing["sla_met_pct"] == 1.0 and billing["median_resolution_min"] == 90
    assert rows["legal"]["items"] == 0 and rows["legal"]["sla_met_pct"] is None
    assert rows["all"]["items"] == 4 and rows["all"]["breaches"] == 2
    # An item still inside its SLA is not judged yet.
    early = departments(store, config(), SCOPE, UNTIL - 9 * H - 30 * M)
    support_early = early.section("departments").frame.set_index("department").loc["support"]
    assert support_early["sla_judged"] == 2


def test_incidents_largest_and_fastest_growing(store: Store) -> None:
    report = incidents(store, SCOPE, recent=4 * H)
    largest = report.section("largest").frame
    assert largest["incident_id"].tolist() == [1, 2]
    outage, billing = records(largest)
    assert (outage["posts"], outage["recent"], outage["status"]) == (4, 4, "open")
    assert outage["departments"] == ["support"] and outage["open_items"] == 0
    assert outage["author"] == "@bigvoice" and outage["text"].startswith("acme login is down")
    assert (billing["status"], billing["departments"], billing["open_items"]) == (
        "resolved",
        ["billing", "support"],
        1,  # the reddit post waits in support
    )
    growing = report.section("fastest_growing").frame
    assert growing["incident_id"].tolist() == [1]  # billing had no post in the last 4h
    assert growing.iloc[0]["per_hour"] == pytest.approx(1.0)


def test_json_and_csv_are_stable_and_machine_friendly(store: Store) -> None:
    first = report_json(incidents(store, SCOPE))
    assert first == report_json(incidents(store, SCOPE))
    data = json.loads(first)
    assert data["report"] == "incidents" and data["since"] == SINCE.isoformat()
    assert isinstance(data["largest"][0]["posts"], int)
    rows = list(csv.DictReader(io.StringIO(report_csv(trend(store, SCOPE, "hour", "UTC")))))
    assert len(rows) == 24 and rows[0]["section"] == "hour"


# --- through the CLI -----------------------------------------------------------------------

runner = CliRunner()
WINDOW = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
REPORTS = ["summary", "trend", "share-of-voice", "authors", "topics", "departments", "incidents"]


@pytest.fixture(scope="module")
def config_file(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    data = {**CONFIG, "database": {"url": store.url}}
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path


def cli(config_file: Path, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(config_file), "report", *args])


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_prints_a_table_json_csv_and_a_chart(
    name: str, config_file: Path, tmp_path: Path
) -> None:
    table = cli(config_file, name, *WINDOW)
    assert table.exit_code == 0, table.output
    as_json = cli(config_file, name, *WINDOW, "-f", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)
    as_csv = cli(config_file, name, *WINDOW, "-f", "csv")
    assert as_csv.exit_code == 0 and as_csv.stdout.count("\n") >= 2
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    flags = {row["verified"] for row in rows if "verified" in row}
    assert flags <= {"true", "false"}, flags  # booleans as the exports write them
    chart = tmp_path / f"{name}.png"
    drawn = cli(config_file, name, *WINDOW, "-f", "json", "--chart", str(chart))
    assert drawn.exit_code == 0, drawn.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(drawn.stdout)  # stdout stays clean JSON with a chart too


def test_hostile_text_is_escaped_in_tables_and_neutralised_in_csv(config_file: Path) -> None:
    shown = cli(config_file, "summary", *WINDOW)
    assert shown.exit_code == 0
    assert "[bold red]URGENT" in shown.output  # shown as typed, not turned into style
    assert "\x1b" not in shown.output and "\x07" not in shown.output
    people = cli(config_file, "authors", *WINDOW, "-n", "20")
    assert "[link=http://evil]@…" in people.output  # cut to the column, never a link
    assert "\x1b" not in people.output
    grouped = cli(config_file, "incidents", *WINDOW)
    assert '=HYPERLINK("http://evil.example' in grouped.output
    exported = cli(config_file, "incidents", *WINDOW, "-f", "csv")
    texts = {
        row["incident_id"]: row["text"] for row in csv.DictReader(io.StringIO(exported.stdout))
    }
    assert texts["2"] == "'" + FORMULA  # a spreadsheet shows it as text, never runs it
    as_json = json.loads(cli(config_file, "incidents", *WINDOW, "-f", "json").stdout)
    assert as_json["largest"][1]["text"] == FORMULA  # JSON is data: kept as it was
    summary_csv = cli(config_file, "summary", *WINDOW, "-f", "csv").stdout
    cells = [c for row in csv.reader(io.StringIO(summary_csv)) for c in row]
    assert "\x1b" not in summary_csv and not any(c.startswith(("=", "+", "@")) for c in cells)


def test_platform_and_brand_options(config_file: Path) -> None:
    reddit = cli(config_file, "summary", *WINDOW, "-p", "reddit", "-f", "json")
    assert json.loads(reddit.stdout)["mentions"] == 2
    both = cli(config_file, "summary", *WINDOW, "--platform", "x,reddit", "-f", "json")
    assert json.loads(both.stdout)["platforms"] == ["reddit", "x"]
    globex = cli(config_file, "trend", *WINDOW, "--brand", "Globex", "-f", "json")
    assert json.loads(globex.stdout)["totals"]["mentions"] == 2


def test_bad_options_get_clear_errors(config_file: Path, tmp_path: Path) -> None:
    unknown = cli(config_file, "summary", *WINDOW, "--brand", "Nope")
    assert unknown.exit_code == 1 and "unknown brand 'Nope'" in unknown.output
    backwards = cli(config_file, "trend", "--since", "1d", "--until", "2d")
    assert backwards.exit_code == 2 and "--until must be after --since" in backwards.output
    zone = cli(config_file, "trend", *WINDOW, "--tz", "Mars/Olympus")
    assert zone.exit_code == 2 and "unknown time zone" in zone.output
    nowhere = cli(config_file, "trend", *WINDOW, "--chart", str(tmp_path / "no" / "c.png"))
    assert nowhere.exit_code == 1 and "no directory" in nowhere.output
    not_png = cli(config_file, "trend", *WINDOW, "--chart", str(tmp_path / "c.jpg"))
    assert not_png.exit_code == 2


def test_a_window_given_in_another_offset_is_shown_and_counted_in_utc(
    config_file: Path,
) -> None:
    """12:00+09:00 is 03:00 UTC: the header must say 03:00 UTC, as the counts do."""
    tokyo = timezone(timedelta(hours=9))
    since, until = SINCE.astimezone(tokyo), UNTIL.astimezone(tokyo)
    window = ["--since", since.isoformat(), "--until", until.isoformat()]
    shown = cli(config_file, "summary", *window)
    assert shown.exit_code == 0, shown.output
    assert f"{SINCE:%Y-%m-%d %H:%M} → {UNTIL:%Y-%m-%d %H:%M} UTC" in shown.output
    assert f"{until:%Y-%m-%d %H:%M} UTC" not in shown.output
    utc = json.loads(cli(config_file, "summary", *WINDOW, "-f", "json").stdout)
    offset = json.loads(cli(config_file, "summary", *window, "-f", "json").stdout)
    assert offset["mentions"] == utc["mentions"] and offset["until"] == UNTIL.isoformat()


def test_an_empty_window_reports_zeros(config_file: Path) -> None:
    empty = ["--since", "2020-01-01", "--until", "2020-01-02"]
    for name in REPORTS:
        result = cli(config_file, name, *empty, "-f", "json")
        assert result.exit_code == 0, (name, result.output)
        table = cli(config_file, name, *empty)
        assert table.exit_code == 0, (name, table.output)
