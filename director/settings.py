"""Every setting, read from the environment and a .env file (DESIGN.md, "Settings").

A bad value stops start-up with one line naming the environment variable and the problem
(`SettingsError`, turned into exit code 2 by the CLI). Secrets are SecretStr so they never
reach a log or a repr.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from director.brains.pricing import ModelPrice, PriceTable, parse_model_prices
from director.models import Autonomy
from director.setting_parsers import (
    ReviewSchedule,
    is_loopback,
    parse_api_token,
    parse_http_urls,
    parse_listen,
    parse_user_ids,
)

DEFAULT_PLANNER = "claude-sonnet-5-5"
DEFAULT_EXECUTOR = "claude-haiku-5-5"
DEFAULT_ESCALATION = "claude-opus-5-5"
DEMO_KALSHI_BASE = "https://external-api.demo.kalshi.co/trade-api/v2"
PROD_KALSHI_BASE = "https://external-api.kalshi.com/trade-api/v2"
DEFAULT_APPROVAL_COST_THRESHOLD = Decimal(25)  # dollars, on a real exchange

Effort = Literal["low", "medium", "high", "xhigh", "max"]


class SettingsError(Exception):
    """One line that names the setting and what is wrong with it."""


def _env(*names: str) -> Any:
    return AliasChoices(*names)


CommaList = Annotated[list[str], NoDecode]
IntList = Annotated[list[int], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        frozen=True,
    )

    # Telegram
    telegram_bot_token: SecretStr | None = Field(None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_api_base_url: str = Field(
        "https://api.telegram.org/bot", validation_alias=_env("TELEGRAM_API_BASE_URL")
    )
    allowed_users: IntList = Field(
        default_factory=list, validation_alias=_env("OMEGA_ALLOWED_USERS")
    )
    chat_id: int | None = Field(None, validation_alias=_env("OMEGA_CHAT_ID"))
    # Read-only users: /state, /positions, /pnl, /history, /plan, /why; no control, no buttons.
    viewers: IntList = Field(default_factory=list, validation_alias=_env("OMEGA_VIEWERS"))

    # The loop
    cycle_seconds: int = Field(900, ge=5, validation_alias=_env("OMEGA_CYCLE_SECONDS"))
    db_path: Path = Field(Path("omega.db"), validation_alias=_env("OMEGA_DB_PATH"))
    exchange: Literal["paper", "kalshi"] = Field("paper", validation_alias=_env("OMEGA_EXCHANGE"))
    autonomy_setting: Autonomy | None = Field(None, validation_alias=_env("OMEGA_AUTONOMY"))
    report: Literal["every", "actions", "digest"] = Field(
        "every", validation_alias=_env("OMEGA_REPORT")
    )
    # With OMEGA_REPORT=digest: routine cycles are folded into one message every N hours.
    report_digest_hours: int = Field(
        6, ge=1, le=168, validation_alias=_env("OMEGA_REPORT_DIGEST_HOURS")
    )
    source_timeout_seconds: float = Field(
        10.0, gt=0, le=300, validation_alias=_env("OMEGA_SOURCE_TIMEOUT_SECONDS")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("OMEGA_LOG_LEVEL")
    )
    # Issue 12: how long after sending a create the director keeps looking it up by client
    # order id before concluding it never reached the exchange (its market waits meanwhile).
    order_settle_seconds: float = Field(
        20.0, gt=0, le=600, validation_alias=_env("OMEGA_ORDER_SETTLE_SECONDS")
    )
    # Issue 12: the most opportunities the JSON Lines feed keeps (the freshest, best ones).
    feed_max_markets: int = Field(
        5000, ge=1, le=1_000_000, validation_alias=_env("OMEGA_FEED_MAX_MARKETS")
    )

    # Brains
    brain: Literal["rules", "claude", "auto"] = Field("auto", validation_alias=_env("OMEGA_BRAIN"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))
    model_planner: str = Field(DEFAULT_PLANNER, validation_alias=_env("OMEGA_MODEL_PLANNER"))
    model_executor: str = Field(DEFAULT_EXECUTOR, validation_alias=_env("OMEGA_MODEL_EXECUTOR"))
    model_escalation: str = Field(
        DEFAULT_ESCALATION, validation_alias=_env("OMEGA_MODEL_ESCALATION")
    )
    daily_budget_usd: Decimal = Field(
        Decimal(10), ge=0, validation_alias=_env("OMEGA_DAILY_BUDGET_USD")
    )
    brain_fallback: Literal["rules", "safe"] = Field(
        "rules", validation_alias=_env("OMEGA_BRAIN_FALLBACK")
    )
    ai_timeout_seconds: float = Field(
        60.0, gt=0, le=600, validation_alias=_env("OMEGA_AI_TIMEOUT_SECONDS")
    )
    ai_max_retries: int = Field(2, ge=0, le=10, validation_alias=_env("OMEGA_AI_MAX_RETRIES"))
    # output_config.effort per tier: how hard each model thinks (adaptive thinking).
    effort_planner: Effort = Field("medium", validation_alias=_env("OMEGA_EFFORT_PLANNER"))
    effort_executor: Effort = Field("low", validation_alias=_env("OMEGA_EFFORT_EXECUTOR"))
    effort_escalation: Effort = Field("high", validation_alias=_env("OMEGA_EFFORT_ESCALATION"))
    # A whole cycle's AI work (planner, repair, consult, executor) ends by this deadline.
    ai_cycle_deadline_seconds: float = Field(
        240.0, gt=0, le=3600, validation_alias=_env("OMEGA_AI_CYCLE_DEADLINE_SECONDS")
    )
    # After a misconfiguration (400/401/403/404) the API is tried again only this often.
    ai_misconfigured_retry_seconds: int = Field(
        3600, ge=60, validation_alias=_env("OMEGA_AI_MISCONFIGURED_RETRY_SECONDS")
    )
    # No planner call when nothing material changed since the last planned cycle.
    skip_unchanged: bool = Field(True, validation_alias=_env("OMEGA_SKIP_UNCHANGED"))
    # Prices for model ids the built-in table (brains/pricing.py) lacks, or overrides of it.
    model_prices: Annotated[dict[str, ModelPrice], NoDecode] = Field(
        default_factory=dict,
        validation_alias=_env("OMEGA_MODEL_PRICES"),
    )

    # Sources
    opportunity_feed: Path | None = Field(None, validation_alias=_env("OMEGA_OPPORTUNITY_FEED"))
    news_feeds: CommaList = Field(default_factory=list, validation_alias=_env("OMEGA_NEWS_FEEDS"))
    scan_seconds: int = Field(3600, ge=10, validation_alias=_env("OMEGA_SCAN_SECONDS"))

    # Kalshi
    kalshi_api_key_id: str | None = Field(None, validation_alias=_env("KALSHI_API_KEY_ID"))
    kalshi_private_key_path: Path | None = Field(
        None, validation_alias=_env("KALSHI_PRIVATE_KEY_PATH")
    )
    kalshi_api_base: str = Field(PROD_KALSHI_BASE, validation_alias=_env("KALSHI_API_BASE"))
    kalshi_reads_per_second: float = Field(
        20.0, gt=0, le=1000, validation_alias=_env("KALSHI_READS_PER_SECOND")
    )
    kalshi_writes_per_second: float = Field(
        10.0, gt=0, le=1000, validation_alias=_env("KALSHI_WRITES_PER_SECOND")
    )
    # Issue 13: the subaccount every portfolio call names (0 is the primary; Kalshi numbers
    # subaccounts 1-63), and whether orders ask Kalshi to cancel them if trading pauses.
    kalshi_subaccount: int = Field(0, ge=0, le=63, validation_alias=_env("KALSHI_SUBACCOUNT"))
    kalshi_cancel_order_on_pause: bool = Field(
        False, validation_alias=_env("KALSHI_CANCEL_ORDER_ON_PAUSE")
    )

    # The recorder (`omega-director record`, director/recorder/)
    # Markets recorded every poll besides the held ones and the opportunities: all, none, or
    # comma-separated ticker prefixes.
    record_universe: str = Field(
        "all", max_length=2000, validation_alias=_env("OMEGA_RECORD_UNIVERSE")
    )
    record_depth_levels: int = Field(
        10, ge=1, le=100, validation_alias=_env("OMEGA_RECORD_DEPTH_LEVELS")
    )
    # The recorder's own Kalshi read budget; beside `run`, the two together must stay under
    # the account's tier (lower KALSHI_READS_PER_SECOND for run by as much).
    record_reads_per_second: float = Field(
        5.0, gt=0, le=1000, validation_alias=_env("OMEGA_RECORD_READS_PER_SECOND")
    )
    # A recording the review replays its suggestion on (director/review_evidence.py); without
    # one, or where it covers too little of the review's window, the simulator.
    recording_dir: Path | None = Field(None, validation_alias=_env("OMEGA_RECORDING_DIR"))

    # Paper exchange
    paper_seed: int = Field(7, validation_alias=_env("OMEGA_PAPER_SEED"))
    paper_markets: int = Field(40, ge=1, le=20000, validation_alias=_env("OMEGA_PAPER_MARKETS"))
    paper_starting_cash: Decimal = Field(
        Decimal(10000), gt=0, validation_alias=_env("OMEGA_PAPER_STARTING_CASH")
    )

    # Guard limits and approval policy
    max_order_contracts: int = Field(
        100, ge=1, le=1_000_000, validation_alias=_env("OMEGA_MAX_ORDER_CONTRACTS")
    )
    max_order_cost: Decimal = Field(
        Decimal(50), gt=0, validation_alias=_env("OMEGA_MAX_ORDER_COST")
    )
    max_exposure: Decimal = Field(
        Decimal("0.5"), gt=0, le=1, validation_alias=_env("OMEGA_MAX_EXPOSURE")
    )
    daily_loss_limit: Decimal = Field(
        Decimal("0.05"), gt=0, le=1, validation_alias=_env("OMEGA_DAILY_LOSS_LIMIT")
    )
    approval_cost_threshold_setting: Decimal | None = Field(
        None, ge=0, validation_alias=_env("OMEGA_APPROVAL_COST_THRESHOLD")
    )
    approval_ttl_setting: int | None = Field(
        None, ge=10, validation_alias=_env("OMEGA_APPROVAL_TTL_SECONDS")
    )

    # Review
    review_schedule_text: str = Field("sun 18:00", validation_alias=_env("OMEGA_REVIEW_SCHEDULE"))
    review_sample: int = Field(50, ge=1, le=10000, validation_alias=_env("OMEGA_REVIEW_SAMPLE"))

    # Storage
    state_retention_days: int = Field(
        90, ge=1, le=3650, validation_alias=_env("OMEGA_STATE_RETENTION_DAYS")
    )

    # The local API for the trader's scripts (director/api/): on when the token is set.
    api_token: SecretStr | None = Field(None, validation_alias=_env("OMEGA_API_TOKEN"))
    api_listen: str = Field("127.0.0.1:8787", validation_alias=_env("OMEGA_API_LISTEN"))
    api_allow_remote: bool = Field(False, validation_alias=_env("OMEGA_API_ALLOW_REMOTE"))
    heartbeat_grace_seconds: float = Field(
        60.0, ge=0, le=86400, validation_alias=_env("OMEGA_HEARTBEAT_GRACE_SECONDS")
    )

    @field_validator("allowed_users", "viewers", mode="before")
    @classmethod
    def _split_users(cls, value: Any) -> Any:
        return parse_user_ids(value) if isinstance(value, str) else value

    @field_validator("model_prices", mode="before")
    @classmethod
    def _prices(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_model_prices(value)
        return value

    @field_validator("news_feeds", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        return parse_http_urls(value) if isinstance(value, str) else value

    @field_validator("telegram_api_base_url", "kalshi_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("review_schedule_text")
    @classmethod
    def _schedule(cls, value: str) -> str:
        ReviewSchedule.parse(value)
        return value

    @field_validator("telegram_bot_token", "anthropic_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_token", mode="before")
    @classmethod
    def _api_token(cls, value: Any) -> Any:
        return parse_api_token(value) if isinstance(value, str) else value

    @field_validator("api_listen")
    @classmethod
    def _api_listen(cls, value: str) -> str:
        parse_listen(value)
        return value.strip()

    @model_validator(mode="after")
    def _api_listen_allowed(self) -> Settings:
        host, _ = parse_listen(self.api_listen)
        if not self.api_allow_remote and not is_loopback(host):
            raise ValueError(
                f"OMEGA_API_LISTEN: {host} is not a loopback address; the local API is for "
                "this machine's scripts (set OMEGA_API_ALLOW_REMOTE=true to listen on it)"
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.telegram_bot_token is not None and not self.allowed_users:
            raise ValueError(
                "OMEGA_ALLOWED_USERS: required when TELEGRAM_BOT_TOKEN is set "
                "(an open trading bot is a hole)"
            )
        if self.exchange == "kalshi" and not (
            self.kalshi_api_key_id and self.kalshi_private_key_path
        ):
            raise ValueError(
                "KALSHI_API_KEY_ID, KALSHI_PRIVATE_KEY_PATH: both required with "
                "OMEGA_EXCHANGE=kalshi"
            )
        if self.brain == "claude" and self.anthropic_api_key is None:
            raise ValueError("ANTHROPIC_API_KEY: required with OMEGA_BRAIN=claude")
        if self.brain_kind == "claude":
            self._require_prices()
        return self

    def _require_prices(self) -> None:
        """Spend must never be under-counted: a routed model without a price is refused."""
        table = PriceTable(self.model_prices)
        for env, model in (
            ("OMEGA_MODEL_PLANNER", self.model_planner),
            ("OMEGA_MODEL_EXECUTOR", self.model_executor),
            ("OMEGA_MODEL_ESCALATION", self.model_escalation),
        ):
            if not table.known(model):
                raise ValueError(
                    f"{env}: no price for model {model!r}; name it in OMEGA_MODEL_PRICES "
                    "(model=input/output dollars per million tokens)"
                )

    # --- derived values ------------------------------------------------------------------

    @property
    def prompt_cache_ttl(self) -> Literal["5m", "1h"]:
        """The static prefix must outlive the gap between cycles to be read, not rewritten."""
        return "1h" if self.cycle_seconds > 300 else "5m"

    @property
    def autonomy(self) -> Autonomy:
        if self.autonomy_setting is not None:
            return self.autonomy_setting
        return Autonomy.AUTO if self.exchange == "paper" else Autonomy.CONFIRM

    @property
    def approval_cost_threshold(self) -> Decimal:
        """In `auto`, an action costing more waits for approval. Unset: $25 on a real
        exchange; on paper none (the order limit), so the embedded default trades unattended."""
        if self.approval_cost_threshold_setting is not None:
            return self.approval_cost_threshold_setting
        return self.max_order_cost if self.exchange == "paper" else DEFAULT_APPROVAL_COST_THRESHOLD

    @property
    def approval_ttl_seconds(self) -> int:
        return self.approval_ttl_setting or self.cycle_seconds

    @property
    def report_chat_id(self) -> int | None:
        if self.chat_id is not None:
            return self.chat_id
        return self.allowed_users[0] if self.allowed_users else None

    @property
    def brain_kind(self) -> Literal["rules", "claude"]:
        if self.brain == "auto":
            return "claude" if self.anthropic_api_key is not None else "rules"
        return self.brain

    @property
    def review_schedule(self) -> ReviewSchedule:
        return ReviewSchedule.parse(self.review_schedule_text)

    @property
    def kalshi_environment(self) -> str:
        return "DEMO" if "demo" in self.kalshi_api_base.lower() else "PROD"


def _env_name(settings_cls: type[Settings], field: str) -> str:
    info = settings_cls.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices) and alias.choices:
        first = alias.choices[0]
        return first if isinstance(first, str) else field.upper()
    return field.upper()


def first_problem(error: ValidationError) -> str:
    """The first problem, as one line naming the environment variable."""
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    message = first["msg"].removeprefix("Value error, ")
    if not loc:
        return message
    name = _env_name(Settings, loc[0]) if loc[0] in Settings.model_fields else loc[0]
    value = first.get("input")
    shown = "" if isinstance(value, dict) or value is None else f" (got {str(value)[:60]!r})"
    secret = any(word in name for word in ("TOKEN", "KEY"))
    return f"{name}: {message}{'' if secret else shown}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env; raises SettingsError with one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(first_problem(exc)) from None
