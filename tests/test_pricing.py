"""Prices that match Anthropic's price list, and settings that refuse an unpriced model."""

from __future__ import annotations

from decimal import Decimal

import pytest

from director.brains.pricing import (
    ModelPrice,
    PriceTable,
    Rates,
    TokenUsage,
    parse_model_prices,
)
from director.settings import SettingsError, load_settings

D = Decimal
MILLION = 1_000_000


def _cost(model: str, **tokens: int) -> Decimal:
    return PriceTable().cost(model, TokenUsage(**tokens))


@pytest.mark.parametrize(
    ("model", "rates"),
    [
        # input, output, 5m write, 1h write, cache read (dollars per million tokens)
        ("claude-opus-5-5", ("4", "20", "5", "8", "0.20")),
        ("claude-sonnet-5-5", ("2", "10", "2.50", "4", "0.10")),
        ("claude-haiku-5-5", ("0.10", "0.50", "0.125", "0.20", "0.01")),
    ],
)
def test_the_default_models_are_priced_per_token_kind(model: str, rates: tuple[str, ...]) -> None:
    # 100,000 tokens: within Haiku 5.5's short-prompt tier, a tenth of the per-million rate.
    inp, out, w5, w1, read = (D(r) / 10 for r in rates)
    tokens = 100_000
    assert _cost(model, input_tokens=tokens) == inp
    assert _cost(model, input_tokens=1, output_tokens=tokens) == out + D(rates[0]) / MILLION
    assert _cost(model, cache_write_5m_tokens=tokens) == w5
    assert _cost(model, cache_write_1h_tokens=tokens) == w1
    assert _cost(model, cache_read_tokens=tokens) == read


def test_haiku_over_100k_prompt_tokens_pays_its_long_prompt_rates_on_every_token() -> None:
    short = TokenUsage(input_tokens=60_000, cache_read_tokens=40_000, output_tokens=1_000)
    long = TokenUsage(input_tokens=60_000, cache_read_tokens=40_001, output_tokens=1_000)
    table = PriceTable()
    # $0.10/M input, $0.01/M reads, $0.50/M output: 0.006 + 0.0004 + 0.0005.
    assert table.cost("claude-haiku-5-5", short) == D("0.0069")
    # 0.50/M input, 0.05/M reads, 2.50/M output once the prompt is past 100,000 tokens.
    assert (
        table.cost("claude-haiku-5-5", long)
        == (60_000 * D("0.50") + 40_001 * D("0.05") + 1_000 * D("2.50")) / MILLION
    )


def test_a_dated_snapshot_is_priced_as_its_alias_and_an_unknown_id_has_no_price() -> None:
    table = PriceTable()
    assert table.price("claude-sonnet-4-5-20250929") == table.price("claude-sonnet-4-5")
    assert table.price("CLAUDE-OPUS-5-5") == table.price("claude-opus-5-5")
    assert not table.known("claude-mythos-5-2")
    with pytest.raises(KeyError, match="no price"):
        table.cost("claude-mythos-5-2", TokenUsage(input_tokens=1))


def test_usage_splits_cache_writes_by_ttl_and_counts_nothing_negative() -> None:
    class Split:
        ephemeral_5m_input_tokens = 100
        ephemeral_1h_input_tokens = 400

    class Api:
        input_tokens = 10
        output_tokens = 5
        cache_read_input_tokens = 7
        cache_creation_input_tokens = 500
        cache_creation = Split()

    assert TokenUsage.from_api(Api()) == TokenUsage(10, 5, 7, 100, 400)

    class NoSplit:
        input_tokens = 1
        output_tokens = 1
        cache_creation_input_tokens = 300  # without the breakdown: the dearer 1h rate

    assert TokenUsage.from_api(NoSplit()).cache_write_1h_tokens == 300

    class Odd:
        input_tokens = -5
        output_tokens = "12"
        cache_read_input_tokens = None
        cache_creation_input_tokens = True

    assert TokenUsage.from_api(Odd()) == TokenUsage()
    assert TokenUsage.from_api(None) == TokenUsage()


def test_parse_model_prices() -> None:
    parsed = parse_model_prices("claude-x=5/25, Claude-Y:1/2/3/4/0.5")
    assert parsed["claude-x"] == ModelPrice(Rates.standard(D(5), D(25)))
    assert parsed["claude-x"].rates.cache_write_1h == D(10)
    assert parsed["claude-y"] == ModelPrice(Rates(D(1), D(2), D(3), D(4), D("0.5")))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "no prices"),
        ("opus=5", "give 2 or 5 rates"),
        ("opus=5/x", "expected model=input/output"),
        ("opus=1/2/3", "give 2 or 5 rates"),
        ("opus=1.2.3/4", "not a number"),
        ("opus=5/25,OPUS=6/30", "given twice"),
    ],
)
def test_parse_model_prices_rejects(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_model_prices(text)


def test_an_unpriced_model_is_refused_at_start_up_with_one_line() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            _env_file=None,
            OMEGA_BRAIN="claude",
            ANTHROPIC_API_KEY="sk-test",
            OMEGA_MODEL_ESCALATION="claude-opus-9",
        )
    message = str(caught.value)
    assert message.startswith("OMEGA_MODEL_ESCALATION: no price for model 'claude-opus-9'")
    assert "OMEGA_MODEL_PRICES" in message and "\n" not in message


def test_omega_model_prices_lets_a_new_model_start() -> None:
    settings = load_settings(
        _env_file=None,
        OMEGA_BRAIN="claude",
        ANTHROPIC_API_KEY="sk-test",
        OMEGA_MODEL_ESCALATION="claude-opus-9",
        OMEGA_MODEL_PRICES="claude-opus-9=6/30",
    )
    assert PriceTable(settings.model_prices).known("claude-opus-9")


def test_the_rules_brain_needs_no_prices() -> None:
    assert load_settings(_env_file=None, OMEGA_MODEL_PLANNER="claude-none").brain_kind == "rules"
