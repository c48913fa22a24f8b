"""The configuration schema: one typed model per section of config.yaml.

Unknown keys are errors, and every value is checked when the config is loaded
(``harken.config.loading``), so a bad value fails at load with its key path.
"""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import regex
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from harken.config.digest import DigestConfig
from harken.config.sinks import (
    PagerDutyConfig,
    TeamsConfig,
    TicketsConfig,
    TicketSystem,
    WebhookConfig,
    sink_departments,
    unique_webhook_names,
)
from harken.config.values import (
    ClockTime,
    Duration,
    Priority,
    SentimentList,
    Strict,
    StrList,
    Timeout,
    TimeZone,
    Weight,
    as_list,
)
from harken.config.web import WebConfig
from harken.errors import ConfigError
from harken.matching import backtracking_shape
from harken.text import strip_controls

DEFAULT_DATABASE_URL = "sqlite:///harken.db"

# Who may act on a department's items (departments[].may_act).
MayAct = Literal["members", "social", "admins"]


def _some_of(value: list[str]) -> list[str]:
    if not value:  # nobody at all: a typo for a department no one could work from Slack
        raise ValueError("expected at least one of members, social, admins")
    return list(dict.fromkeys(value))


MayActList = Annotated[list[MayAct], BeforeValidator(as_list), AfterValidator(_some_of)]


class DatabaseConfig(Strict):
    url: str = DEFAULT_DATABASE_URL


class BrandConfig(Strict):
    name: str
    keywords: StrList = []
    handles: StrList = []
    hashtags: StrList = []
    exclude: StrList = []
    languages: StrList = []
    competitors: StrList = []


class SourceConfig(BaseModel):
    """Settings of one source; each source module documents its own extra keys."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    interval: Duration = timedelta(minutes=5)
    api_base_url: str | None = None


class QuietHours(Strict):
    """Local hours when only critical alerts ping; the rest wait for the digest.
    ``start`` after ``end`` spans midnight (22:00-07:00). No timezone: the digest's."""

    start: ClockTime
    end: ClockTime
    timezone: TimeZone | None = None


class CriticalConfig(Strict):
    """What bypasses the noise budget (cooldown, hourly cap, quiet hours)."""

    priority: Priority = Priority.urgent
    risk: float = Field(default=0.85, ge=0, le=1)


class DepartmentAlerts(Strict):
    """A department's own alert threshold and noise budget; unset keys take ``alerts:``'s.
    ``quiet_hours: false`` turns the global quiet hours off for this department."""

    min_priority: Priority | None = None
    min_risk: float | None = Field(default=None, ge=0, le=1)
    cooldown: Duration | None = None
    max_per_hour: int | None = Field(default=None, ge=1)
    quiet_hours: QuietHours | Literal[False] | None = None


class DepartmentConfig(Strict):
    """``sla`` is how long a new item may wait for its first response: one duration, or one
    per priority (``{urgent: 15m, high: 30m, default: 2h}``; ``default`` covers the rest)."""

    name: str
    slack_channel: str | None = None
    # An incoming webhook posts to the one channel it was made for; with no bot token, a
    # department with a webhook (or alerts.slack.webhook_url) is alerted through it.
    slack_webhook_url: str | None = None
    alerts: DepartmentAlerts = DepartmentAlerts()
    sla: Duration = timedelta(hours=4)
    sla_by_priority: dict[Priority, Duration] = {}
    # Where an item goes when it is overdue twice over (its SLA passed, then as long again).
    escalate_to: str | None = None
    # Who may act on its items from Slack (claim, resolve, transfer...): its members (users:
    # listing it), the social team (role social) and admins (role admin), or fewer of them.
    may_act: MayActList = ["members", "social", "admins"]

    @model_validator(mode="before")
    @classmethod
    def _sla_per_priority(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("sla"), dict):
            per = dict(data["sla"])
            data = {**data, "sla": per.pop("default", timedelta(hours=4))}
            data["sla_by_priority"] = {**per, **data.get("sla_by_priority", {})}
        return data

    def sla_for(self, priority: Priority | str) -> timedelta:
        return self.sla_by_priority.get(Priority(priority), self.sla)


# The longest name queue_events.actor keeps (harken.queue.actors.MAX_ACTOR; config sits below
# queue in the layers, so the number is repeated here).
MAX_USER_NAME = 255
_SLACK_ID = re.compile(r"[A-Z0-9]{2,64}")


class UserConfig(Strict):
    """A person: the name queue events record, their Slack member id, the departments whose
    items they work on, and their role (``social``: the social team; ``admin``)."""

    name: str
    slack_id: str | None = None
    departments: StrList = []
    # "department" is "member" by its web name; a "viewer" reads and never acts.
    role: Literal["member", "department", "social", "admin", "viewer"] = "member"

    @field_validator("name")
    @classmethod
    def _name_fits(cls, value: str) -> str:
        name = value.strip()
        if not name or strip_controls(name) != name or len(name) > MAX_USER_NAME:
            raise ValueError(
                f"expected a name of 1 to {MAX_USER_NAME} characters without control characters"
            )
        return name

    @field_validator("slack_id")
    @classmethod
    def _slack_member_id(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_ID.fullmatch(value.strip()):
            raise ValueError(
                "expected a Slack member id like U0123ABC (profile → ⋮ → Copy member ID)"
            )
        return value.strip() if value else value


# What an author is to the brand (``accounts:``); harken.authors reads it. "customer" says an
# author is one whatever its source (an app-store review feed, which RSS would make press).
Role = Literal["own", "staff", "partner", "moderator", "press", "competitor", "customer"]
ROLES: tuple[str, ...] = (
    "own",
    "staff",
    "partner",
    "moderator",
    "press",
    "competitor",
    "customer",
)
RoleList = Annotated[list[Role], BeforeValidator(as_list)]
PRESS_RULE = "press"  # the built-in routing rule that sends press posts to routing.press
# The registry's platforms (harken.platforms.registry.platform_names; config sits below
# platforms in the layers, so the names are repeated here and a test keeps them equal).
PLATFORM_NAMES: tuple[str, ...] = (
    "x", "reddit", "bluesky", "mastodon", "rss", "youtube", "facebook", "instagram"
)  # fmt: skip


def _known_platform(value: str | None) -> str | None:
    if value is not None and value.strip().lower() not in PLATFORM_NAMES:
        raise ValueError(f"{value!r} is not a platform (known: {', '.join(PLATFORM_NAMES)})")
    return value.strip().lower() if value is not None else None


class AccountConfig(Strict):
    """An author harken should know: the brand's own accounts, its staff, partners,
    moderators, press, competitors. ``handle`` is exact (``@`` optional, any case);
    ``pattern`` is a glob on the handle (``acme_*``); one of the two is required."""

    handle: str | None = None
    pattern: str | None = None
    platform: Annotated[str | None, AfterValidator(_known_platform)] = None
    role: Role
    brand: str | None = None

    @model_validator(mode="after")
    def _handle_or_pattern(self) -> AccountConfig:
        given = [v for v in (self.handle, self.pattern) if v is not None and v.strip("@ ")]
        if len(given) != 1:
            raise ValueError("give exactly one of handle (e.g. '@acmesupport') or pattern")
        return self


class RuleCondition(Strict):
    """All given conditions must hold (AND); list values match any of their items (OR)."""

    keywords: StrList = []
    # Regular expressions (Python syntax), tried on the text as written and on its folded form
    # (width, case, accents), case-insensitively.
    regex: StrList = []
    topics: StrList = []
    brands: StrList = []
    platforms: StrList = []
    languages: StrList = []
    sentiment: SentimentList = []
    complaint_gte: float | None = Field(default=None, ge=0, le=1)
    abuse_gte: float | None = Field(default=None, ge=0, le=1)
    risk_gte: float | None = Field(default=None, ge=0, le=1)
    followers_gte: int | None = Field(default=None, ge=0)
    verified: bool | None = None
    # The author's role from accounts: (own, staff, partner, moderator, press, competitor).
    roles: RoleList = []

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
                regex.compile(pattern, regex.V0)  # what routing runs it with
            except (re.error, regex.error) as err:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {err}") from None
            shape = backtracking_shape(pattern)
            if shape:
                raise ValueError(
                    f"{pattern!r} can take minutes on one unlucky post ({shape}): rewrite it "
                    "without the repeated group, e.g. '(a+)+$' as 'a+$'"
                )
        return value


class RoutingRule(Strict):
    name: str
    when: RuleCondition = RuleCondition()
    to: StrList
    priority: Priority = Priority.normal
    stop: bool = False
    # true: its items always alert; false: never (they still queue); unset: the department's
    # threshold decides.
    alert: bool | None = None
    ticket: TicketSystem | None = None  # its new items also become tickets there (tickets:)

    @field_validator("to")
    @classmethod
    def _needs_target(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a rule needs at least one department in 'to'")
        return value


class RoutingConfig(Strict):
    default: str = "support"
    default_priority: Priority = Priority.normal
    # What the default department takes of the posts no rule takes: `needs_response` (a
    # complaint, a negative post, a question, a risky post, or one in a language the classifier
    # cannot read; praise, thanks and chatter are stored and reported, not queued) or `all`.
    default_takes: Literal["needs_response", "all"] = "needs_response"
    rules: list[RoutingRule] = []
    # Where possible impostors go (default: a department named security, else pr, else default).
    impersonation: str | None = None
    # Where every press post goes (role press in accounts:, and RSS/news sources), after the
    # rules (the built-in rule "press"): default a department named pr, else `default`;
    # false: press posts only go where the rules send them.
    press: str | Literal[False] | None = None
    # How long one rule's patterns may run on one post; a post that uses it up is routed as if
    # the patterns did not match, and its reason says so.
    regex_budget: Duration = timedelta(milliseconds=100)

    @field_validator("regex_budget")
    @classmethod
    def _budget_in_range(cls, value: timedelta) -> timedelta:
        if not timedelta(milliseconds=1) <= value <= timedelta(seconds=10):
            raise ValueError("expected between 1ms and 10s")
        return value


class StormsConfig(Strict):
    """Storm grouping (harken/routing/storms.py): a complaint about the same problem as one
    of the brand's recent incidents joins it even in other words. Similarities are on
    MiniLM's scale (e5's are mapped onto it)."""

    # On by default: a newcomer's outage must be one incident, not one per post.
    enabled: bool = True
    similarity: float = Field(default=0.6, ge=0.3, le=1)  # to the incident's mean meaning
    # Without a topic on both sides to agree on, a post needs this much instead.
    topicless_similarity: float = Field(default=0.7, ge=0.3, le=1)
    # A post with no topic whose best topic score reaches this, for the incident's leading
    # topic, leans to it: it joins at ``similarity``.
    topic_hint: float = Field(default=0.2, ge=0, le=1)
    # Since the incident's last complaint: a storm's reports come minutes apart; a longer wait
    # lets a quiet day's unrelated complaints drift together (measured on the demo).
    window: Duration = timedelta(hours=1)
    max_span: Duration = timedelta(hours=12)  # first to last post: no endless mega-incident
    candidates: int = Field(default=8, ge=1, le=100)  # recent centroids read per post
    same_topic: bool = True  # the post and the incident must share a topic when both have one
    # Only complaints join a storm: negative sentiment, or a complaint score at least this.
    complaint: float = Field(default=0.5, ge=0, le=1)
    # A post whose encoder cannot compare its meaning with the incident's (e5 Japanese with a
    # MiniLM English incident) may join on a shared topic alone, within this shorter window,
    # when its score for the topic is clear (0.5) and the brand is in a burst (``burst``
    # incidents, or that many complaints on the topic in the incident; burst 0: never).
    across_languages: Duration = timedelta(minutes=30)  # 0s: never
    # A neutral post (not positive: praise never joins) with a complaint score at least this
    # may join too, on a shared topic at ``similarity``: "login loop after 2FA" reads neutral.
    neutral_complaint: float = Field(default=0.1, ge=0, le=1)
    # A burst: at least this many of the brand's incidents had a complaint within ``window``.
    # Each report of an outage starts alone, and two phrasings of it are only ~0.45 alike on
    # MiniLM (a whole storm's mean is 0.6-0.8 from each): during a burst a post needs
    # ``burst_similarity`` instead of ``similarity`` (the topicless bar drops as much). 0: never.
    burst: int = Field(default=3, ge=0, le=100)
    burst_similarity: float = Field(default=0.5, ge=0.3, le=1)
    # During a burst, a complaint that joins the meaning of two or more open incidents on one
    # topic merges them into the oldest (posts, items, keys and centroids move): a storm's
    # first reports each opened one. Never past ``max_span``, never an alerted one. false: never.
    merge: bool = True


class IncidentsConfig(Strict):
    """How posts are grouped into incidents (one per brand): retweets and quotes always join
    the post they point at; copies, shared links and near-duplicates join within ``window``;
    complaints about the same problem join by meaning and topic (``storms``)."""

    window: Duration = timedelta(hours=6)
    # Cosine similarity of meaning (the base encoder) at which two posts are near-duplicates.
    similarity: float = Field(default=0.9, ge=0.5, le=1)
    copies: bool = True  # the same text once links, handles and spacing are set aside
    urls: bool = True  # posts sharing a link (other than the brand's own site or the platform's)
    ignore_domains: StrList = []  # links to these never group (your own site, link shorteners)
    storms: StormsConfig = StormsConfig()


SERIES_KINDS = ("volume", "negative", "topics")  # what spikes.series may name, besides...
TOPIC_SERIES = "topic:"  # ...one topic: "topic:<a name from topics>"
SERIES_HELP = "volume, negative, topics or topic:<a name from topics>"


class SpikesConfig(Strict):
    """The hourly spike check (docs/spikes.md): an hour is a spike when its count is at least
    ``min_count``, ``ratio`` times the usual for that hour of the week, and unlikely by chance
    (Poisson p below ``p_value``)."""

    enabled: bool = True
    department: str | None = None  # whose channel spike alerts go to (default: digest's)
    weeks: int = Field(default=4, ge=1, le=52)
    min_count: int = Field(default=10, ge=1)
    ratio: float = Field(default=3.0, gt=0)
    p_value: float = Field(default=0.001, gt=0, le=1)
    baseline_floor: float = Field(default=1.0, gt=0)
    series: StrList = list(SERIES_KINDS)  # or "topic:<name>" for chosen topics

    @field_validator("series")
    @classmethod
    def _known_series(cls, names: list[str]) -> list[str]:
        # Topic names are checked against ``topics`` once the whole config is read.
        for name in names:
            if name not in SERIES_KINDS and not name.startswith(TOPIC_SERIES):
                raise ValueError(f"{name!r} is not {SERIES_HELP}")
        return names


# What a reply template may name (harken.queue.replies fills them in).
REPLY_FIELDS = ("author", "brand", "platform", "department", "item")
REPLY_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class RepliesConfig(Strict):
    """Reply templates per topic for ``harken queue reply``: {author}, {brand}, {platform},
    {department} and {item} are filled in; ``default`` is used when no topic has one.
    ``approval``: a reply written in Slack goes to ``approver_channel`` (a Slack channel, the
    social team's) and is sent once someone other than its author approves it there."""

    templates: dict[str, str] = {}
    approval: bool = False
    approver_channel: str | None = None

    @field_validator("templates")
    @classmethod
    def _known_fields(cls, templates: dict[str, str]) -> dict[str, str]:
        # A misspelt {autor} must fail when the config loads, not when a reply is due.
        for name, text in templates.items():
            for field in REPLY_PLACEHOLDER.findall(text):
                if field not in REPLY_FIELDS:
                    raise ValueError(
                        f"template {name!r} uses {{{field}}}: known fields are "
                        + ", ".join(f"{{{f}}}" for f in REPLY_FIELDS)
                    )
        return templates


class ClassifierConfig(Strict):
    # "minilm" is the bundled English encoder with harken's trained heads.
    model: str = "minilm"
    batch_size: int = Field(default=32, ge=1, le=1024)
    # Cosine similarity a mention needs with one of a topic's example phrases.
    topic_threshold: float = Field(default=0.45, ge=0, le=1)
    # A topic found by similarity must also come within this much of the post's best topic
    # (a literal example phrase scores 1): one clear topic is not diluted by near ones. 1: off.
    topic_margin: float = Field(default=0.1, ge=0, le=1)
    # Heads to use instead of the bundled ones for `model` (what `harken retrain` writes);
    # a relative path is relative to the config file.
    heads: str | None = None
    # A model per language: posts detected in a language listed here are scored by that model's
    # encoder and heads instead of `model`, e.g. {ja: minilm}. Unlisted languages that `model`
    # cannot read (Japanese for minilm) go to e5 (multilingual-e5-small, bundled) by default.
    languages: dict[str, str] = {}

    @field_validator("languages")
    @classmethod
    def _languages_name_bundled_models(cls, value: dict[str, str]) -> dict[str, str]:
        known = bundled_model_names()
        checked = {}
        for language, model in value.items():
            code = language.strip().lower()
            if not re.fullmatch(r"[a-z]{2,3}", code):
                raise ValueError(f"{language!r} is not a language code such as ja or en")
            if model not in known:
                raise ValueError(
                    f"{language}: unknown model {model!r} (models with trained heads: "
                    f"{', '.join(known)})"
                )
            checked[code] = model
        return checked


def bundled_model_names() -> list[str]:
    """Models whose trained heads ship in harken/data/models/<name>/ (minilm, e5)."""
    root = resources.files("harken").joinpath("data/models")
    return sorted(p.name for p in root.iterdir() if p.joinpath("heads.json").is_file())


class SlackConfig(Strict):
    """A bot token (chat.postMessage: channels by name, one thread per incident, verified
    delivery) or incoming webhooks (one channel each, no threads)."""

    bot_token: str | None = None
    webhook_url: str | None = None  # used for departments without their own webhook
    # The Slack app (`harken slack serve`): buttons on alerts once either is set. An app-level
    # token (xapp-..., connections:write) for Socket Mode; the signing secret for HTTP mode.
    app_token: str | None = None
    signing_secret: str | None = None
    api_base_url: str | None = None  # default https://slack.com/api/
    timeout: Timeout = timedelta(seconds=10)  # per read; a call gets three times this
    # Channels delivered side by side (each channel's alerts in order, one at a time): a call
    # to Slack takes a tenth of a second or more. 1 delivers one alert at a time.
    channels_at_once: int = Field(default=4, ge=1, le=16)


class AlertsConfig(Strict):
    # A queue item raises an alert when its priority or its risk reaches these (per
    # department: departments[].alerts).
    min_priority: Priority = Priority.high
    min_risk: float = Field(default=0.6, ge=0, le=1)
    # Print alerts in the terminal: "auto" when no Slack is configured, or always / never.
    console: bool | Literal["auto"] = "auto"
    slack: SlackConfig | None = None
    # The noise budget, per department channel (critical alerts bypass it; held alerts are
    # listed in the digest and by `harken alerts --status held`).
    cooldown: Duration = timedelta(0)  # after a ping, hold the next for this long
    max_per_hour: int | None = Field(default=None, ge=1)
    quiet_hours: QuietHours | None = None
    critical: CriticalConfig = CriticalConfig()
    # Transient failures (5xx, timeouts, Slack down) are retried with backoff this long.
    give_up_after: Duration = timedelta(hours=24)
    # Hand-offs (harken/config/sinks.py): signed JSON events, Teams cards, PagerDuty pages.
    webhooks: Annotated[list[WebhookConfig], AfterValidator(unique_webhook_names)] = []
    teams: TeamsConfig | None = None
    pagerduty: PagerDutyConfig | None = None


class RiskSignalsConfig(Strict):
    """What each built-in escalation signal adds to the risk's text term, at full displeasure
    (harken/classify/signals.py holds the words); 0 switches one off."""

    legal: Weight = 0.3  # sue, lawyer, court, class action, regulators; 訴訟, 弁護士
    safety: Weight = 0.3  # injury, caught fire, food poisoning; ケガ, 発火, 食中毒
    press: Weight = 0.2  # journalist, reporter, request for comment; 記者, 取材, 報道


class RiskConfig(Strict):
    """Escalation risk weights (docs/classifier.md explains the formula)."""

    complaint: Weight = 0.35
    negative: Weight = 0.35
    abuse: Weight = 0.3
    topics: dict[str, Weight] = {}  # risky topics (names from topics:) and what each adds
    signals: RiskSignalsConfig = RiskSignalsConfig()  # built-in legal, safety, press signals
    reach: Weight = 0.6
    verified: Weight = 0.2
    engagement: Weight = 0.4
    velocity: Weight = 0.5  # interactions per hour, from engagement snapshots
    incident: Weight = 0.5  # other posts of the same incident in the last hour
    base: Weight = 0.45  # share of the text signal a post keeps with no audience at all


class RefreshConfig(Strict):
    """The engagement refresh job: re-read likes/reposts/replies of recent, risky mentions."""

    enabled: bool = True
    interval: Duration = timedelta(minutes=15)
    window: Duration = timedelta(hours=48)  # mentions posted within this long ago
    min_risk: float = Field(default=0.4, ge=0, le=1)
    limit: int = Field(default=100, ge=1, le=10000)  # per source and run, riskiest first


class Config(Strict):
    database: DatabaseConfig = DatabaseConfig()
    brands: list[BrandConfig] = []
    sources: dict[str, SourceConfig] = {}
    departments: list[DepartmentConfig] = [
        DepartmentConfig(name="support", sla=timedelta(hours=1)),
    ]
    topics: dict[str, StrList] = {}
    routing: RoutingConfig = RoutingConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    spikes: SpikesConfig = SpikesConfig()
    replies: RepliesConfig = RepliesConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    alerts: AlertsConfig = AlertsConfig()
    risk: RiskConfig = RiskConfig()
    refresh: RefreshConfig = RefreshConfig()
    digest: DigestConfig = DigestConfig()
    users: list[UserConfig] = []
    accounts: list[AccountConfig] = []
    web: WebConfig = WebConfig()
    tickets: TicketsConfig = TicketsConfig()

    # Where the file layer came from (None: built-in defaults only) and which ${VAR}s it used.
    _path: Path | None = PrivateAttr(default=None)
    _env_refs: dict[str, str] = PrivateAttr(default_factory=dict)
    _secret_values: list[str] = PrivateAttr(default_factory=list)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def env_refs(self) -> dict[str, str]:
        """Key path -> the environment variable it references, e.g. sources.x.bearer_token."""
        return dict(self._env_refs)

    @property
    def secret_values(self) -> list[str]:
        """What the ``${VAR}`` references resolved to: never to be logged or shown."""
        return list(self._secret_values)

    @model_validator(mode="after")
    def _departments_exist(self) -> Config:
        known = {d.name for d in self.departments}
        targets = [("routing.default", self.routing.default)]
        targets += [
            (f"departments[{i}].escalate_to", d.escalate_to)
            for i, d in enumerate(self.departments)
            if d.escalate_to
        ]
        for i, rule in enumerate(self.routing.rules):
            targets += [(f"routing.rules[{i}].to", name) for name in rule.to]
        if self.spikes.department:
            targets.append(("spikes.department", self.spikes.department))
        if self.routing.impersonation:
            targets.append(("routing.impersonation", self.routing.impersonation))
        if self.routing.press:
            targets.append(("routing.press", self.routing.press))
        if "department" in self.digest.model_fields_set:
            targets.append(("digest.department", self.digest.department))
        alerts = self.alerts
        targets += sink_departments(alerts.webhooks, alerts.teams, alerts.pagerduty)
        for i, rule in enumerate(self.routing.rules):
            if rule.ticket and rule.ticket not in self.tickets.systems():
                raise ValueError(
                    f"routing.rules[{i}].ticket: {rule.ticket} is not set up in tickets:"
                )
        for where, name in targets:
            if name not in known:
                raise ValueError(
                    f"{where} names department {name!r}, which is not in departments "
                    f"(known: {', '.join(sorted(known)) or 'none'})"
                )
        unknown_risky = [t for t in self.risk.topics if t not in self.topics]
        if unknown_risky:
            raise ValueError(f"risk.topics names {unknown_risky[0]!r}, which is not in topics")
        for i, rule in enumerate(self.routing.rules):
            unknown = [t for t in rule.when.topics if t not in self.topics]
            if unknown:
                raise ValueError(
                    f"routing.rules[{i}].when.topics names {unknown[0]!r}, which is not in topics"
                )
        for name in self.spikes.series:
            if name.startswith(TOPIC_SERIES) and name.removeprefix(TOPIC_SERIES) not in self.topics:
                raise ValueError(f"spikes.series: {name!r} is not {SERIES_HELP}")
        for name in self.replies.templates:
            if name != "default" and name not in self.topics:
                raise ValueError(
                    f"replies.templates names {name!r}, which is neither a topic nor 'default'"
                )
        return self

    @model_validator(mode="after")
    def _users_are_distinct(self) -> Config:
        seen: set[str] = set()
        for i, department in enumerate(self.departments):
            if department.name in seen:  # the first one's SLA would silently win
                raise ValueError(f"departments[{i}].name: {department.name!r} is listed twice")
            seen.add(department.name)
        known = {d.name for d in self.departments}
        names: set[str] = set()
        slack_ids: set[str] = set()
        for i, user in enumerate(self.users):
            for name in user.departments:
                if name not in known:
                    raise ValueError(
                        f"users[{i}].departments names department {name!r}, which is not in "
                        f"departments (known: {', '.join(sorted(known)) or 'none'})"
                    )
            if user.name in names:
                raise ValueError(f"users[{i}].name: {user.name!r} is listed twice")
            if user.slack_id and user.slack_id in slack_ids:
                raise ValueError(f"users[{i}].slack_id: {user.slack_id!r} is given to two users")
            names.add(user.name)
            slack_ids.add(user.slack_id or "")
        sso = self.web.sso
        for name in sso.departments if sso else ():
            if name not in known:
                raise ValueError(
                    f"web.sso.departments names department {name!r}, which is not in "
                    f"departments (known: {', '.join(sorted(known)) or 'none'})"
                )
        return self

    @model_validator(mode="after")
    def _press_department(self) -> Config:
        # Resolved once here, so routing (which sees only routing:) need not know departments.
        if self.routing.press is None:
            self.routing.press = "pr" if self.find_department("pr") else self.routing.default
        return self

    @model_validator(mode="after")
    def _accounts_name_brands(self) -> Config:
        names = {b.name for b in self.brands}
        for i, account in enumerate(self.accounts):
            if account.brand is not None and account.brand not in names:
                raise ValueError(
                    f"accounts[{i}].brand names {account.brand!r}, which is not in brands "
                    f"(known: {', '.join(sorted(names)) or 'none'})"
                )
        return self

    def find_department(self, name: str | None) -> DepartmentConfig | None:
        """The department ``name``, or None when the config has none of that name."""
        return next((d for d in self.departments if d.name == name), None)

    def department(self, name: str) -> DepartmentConfig:
        return self.known_department(name)

    def known_department(self, name: str) -> DepartmentConfig:
        """The department ``name``; a name the config lacks (a typo, most likely) is refused
        with the known ones, wherever a person names a department (CLI, Slack, web)."""
        found = self.find_department(name)
        if found is None:
            known = ", ".join(d.name for d in self.departments)
            raise ConfigError(f"unknown department {name!r}", hint=f"known: {known}")
        return found
