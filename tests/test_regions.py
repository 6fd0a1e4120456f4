"""Settings from env and TOML, one-line config errors, local/request regions, failover routing."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgedb_opt.errors import ConfigError
from edgedb_opt.runtime.regions import (
    RegionRouter,
    RegionSettings,
    Settings,
    load_settings,
    local_region,
    region_for_request,
)
from tests.conftest import FakeTimer

TOKEN = "tok-3f9a-NEVER-PRINT-ME"
#: lhr is the primary; "lab" has no known position, so it ranks after every other region.
REGIONS: list[dict[str, Any]] = [
    {"name": "lhr", "url": "libsql://lhr.example", "primary": True, "auth_token": TOKEN},
    {"name": "fra", "url": "https://fra.example", "replica_path": "/tmp/fra.db"},
    {"name": "iad", "url": "wss://iad.example"},
    {"name": "sjc", "url": "turso:/srv/sjc.db", "sync_interval": 0.5},
    {"name": "nrt", "url": "file:/srv/nrt.db"},
    {"name": "lab", "url": "lab.db"},
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No EDGEOPT_* or platform variable of the machine leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("EDGEOPT_") or name in ("FLY_REGION", "VERCEL_REGION", "AWS_REGION"):
            monkeypatch.delenv(name)
    yield


def settings(**overrides: Any) -> Settings:
    return load_settings(**{"regions": REGIONS, **overrides})


def config_error(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    return str(info.value)


# -- loading ---------------------------------------------------------------------------------


def test_defaults_are_the_single_database_form() -> None:
    s = load_settings()
    assert [(r.name, r.url, r.primary) for r in s.regions] == [("local", "./edgeopt.db", True)]
    assert (s.readers, s.pool_timeout, s.max_in_flight, s.cache_maxsize) == (4, 5.0, 16, 1024)
    assert (s.cache_ttl, s.slow_ms, s.n_plus_one_threshold, s.busy_timeout_ms) == (
        30,
        200,
        10,
        5000,
    )
    assert (s.unhealthy_after_errors, s.latency_ewma_alpha, s.max_latency_ms) == (3, 0.2, 500)
    assert s.retry_after == 5.0 and s.driver is None and s.region is None and s.cache_enabled
    assert local_region(s, {}) == "local" and RegionRouter(s).read_order() == ["local"]


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEOPT_READERS", "7")
    monkeypatch.setenv("EDGEOPT_CACHE_TTL", "2.5")
    monkeypatch.setenv("EDGEOPT_CACHE_ENABLED", "false")
    monkeypatch.setenv("EDGEOPT_DRIVER", "turso")
    monkeypatch.setenv("EDGEOPT_REGIONS", json.dumps(REGIONS[:3]))
    monkeypatch.setenv("EDGEOPT_REGION", "FRA")
    monkeypatch.setenv("EDGEOPT_COUNTRY_REGIONS__de", "iad")
    s = load_settings()
    assert (s.readers, s.cache_ttl, s.cache_enabled, s.driver) == (7, 2.5, False, "turso")
    assert s.region_names() == ["lhr", "fra", "iad"] and s.region == "fra"
    assert s.country_regions == {"DE": "iad"} and s.country_map()["DE"] == "iad"
    assert s.get_region("fra").replica_path == Path("/tmp/fra.db")


def test_simple_form_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGEOPT_DB", "http://127.0.0.1:8080")
    monkeypatch.setenv("EDGEOPT_REPLICA", str(tmp_path / "r.db"))
    monkeypatch.setenv("EDGEOPT_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("EDGEOPT_SYNC_INTERVAL", "0.25")
    (only,) = load_settings().all_regions()
    assert (only.name, only.url, only.primary) == ("local", "http://127.0.0.1:8080", True)
    assert (only.replica_path, only.sync_interval) == (tmp_path / "r.db", 0.25)
    assert only.auth_token is not None and only.auth_token.get_secret_value() == TOKEN


def test_toml_file_then_env_then_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "edgeopt.toml"
    path.write_text(
        'readers = 2\ncache_ttl = 9.0\nslow_ms = 50\nregion = "fra"\n'
        '[country_regions]\nJP = "fra"\n'
        '[[regions]]\nname = "iad"\nurl = "libsql://iad.example"\nprimary = true\n'
        '[[regions]]\nname = "fra"\nurl = "libsql://fra.example"\nlatitude = 50.0\n'
        "longitude = 8.6\n"
    )
    monkeypatch.setenv("EDGEOPT_READERS", "3")  # env beats the file
    monkeypatch.setenv("EDGEOPT_COUNTRY_REGIONS__BR", "fra")  # tables merge key by key
    s = Settings.from_toml(path, slow_ms=75)  # arguments beat both
    assert (s.readers, s.cache_ttl, s.slow_ms, s.region) == (3, 9.0, 75, "fra")
    assert s.country_regions == {"JP": "fra", "BR": "fra"}
    assert s.get_region("fra").point == (50.0, 8.6) and s.primary_region.name == "iad"


def test_toml_from_pyproject_tool_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "app"\n[tool.edgeopt]\ndb = "turso:app.db"\nreaders = 6\n')
    s = load_settings(path)
    assert (s.readers, s.regions[0].url) == (6, "turso:app.db")


def test_plain_settings_class_reads_no_file_and_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEOPT_MAX_IN_FLIGHT", "3")
    assert Settings().max_in_flight == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "cannot read settings file '{path}': No such file or directory"),
        ("readers = [", "settings file '{path}' is not valid TOML: "),
        ("cache_tll = 3\n", "cache_tll: extra inputs are not permitted"),
    ],
    ids=["missing", "not-toml", "typo"],
)
def test_toml_file_errors(tmp_path: Path, text: str | None, expected: str) -> None:
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as info:
        Settings.from_toml(path)
    assert str(info.value).startswith(expected.format(path=path))
    assert "\n" not in str(info.value)


def test_unparsable_env_json_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEOPT_REGIONS", "[{oops")
    assert config_error() == (
        "regions: cannot parse EDGEOPT_REGIONS (lists and tables are written as JSON)"
    )


# -- validation: one line per problem, naming the field ----------------------------------------


def _regions_with(index: int, **change: Any) -> list[dict[str, Any]]:
    out = [dict(r) for r in REGIONS]
    out[index].update(change)
    return out


SCHEMES = "(use a path, file:, turso:, http(s)://, libsql:// or ws(s)://)"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"regions": _regions_with(1, url="ftp://fra.example")},
            f"regions.1.url: unknown URL scheme 'ftp' {SCHEMES}",
        ),
        ({"db": "gopher://x"}, f"db: unknown URL scheme 'gopher' {SCHEMES}"),
        ({"db": "  "}, "db: is empty: give a file path or a database URL"),
        ({"regions": REGIONS, "region": "mars"}, "region: 'mars' is not a configured region "
         "(configured: lhr, fra, iad, sjc, nrt, lab)"),
        ({"cache_ttl": -1}, "cache_ttl: input should be greater than 0"),
        ({"readers": 0}, "readers: input should be greater than or equal to 1"),
        ({"max_in_flight": 0}, "max_in_flight: input should be greater than or equal to 1"),
        ({"pool_timeout": 0}, "pool_timeout: input should be greater than 0"),
        ({"busy_timeout_ms": -5}, "busy_timeout_ms: input should be greater than or equal to 0"),
        ({"n_plus_one_threshold": 1},
         "n_plus_one_threshold: input should be greater than or equal to 2"),
        ({"latency_ewma_alpha": 1.5},
         "latency_ewma_alpha: input should be less than or equal to 1"),
        ({"readers": "many"},
         "readers: input should be a valid integer, unable to parse string as an integer"),
        ({"driver": "postgres"},
         "driver: unknown driver 'postgres' (choose one of sqlite, turso, replica, libsql)"),
        ({"regions": _regions_with(2, sync_interval=0)},
         "regions.2.sync_interval: input should be greater than 0"),
        ({"regions": _regions_with(5, latitude=12.0)},
         "regions.5: latitude and longitude go together: give both or neither"),
        ({"regions": _regions_with(5, latitude=95.0, longitude=0.0)},
         "regions.5.latitude: input should be less than or equal to 90"),
        ({"regions": _regions_with(3, name=" ")}, "regions.3.name: a region needs a name"),
        ({"regions": _regions_with(3, colour="red")},
         "regions.3.colour: extra inputs are not permitted"),
        ({"regions": _regions_with(4, name="LHR")},
         "regions: region names must be unique: lhr given twice"),
        ({"regions": _regions_with(2, primary=True)},
         "regions: exactly one region must be primary (found: lhr, iad)"),
        ({"regions": _regions_with(0, primary=False)},
         "regions: exactly one region must be primary (found: none)"),
        ({"regions": REGIONS, "country_regions": {"DE": "ams"}},
         "country_regions.DE: 'ams' is not a configured region "
         "(configured: lhr, fra, iad, sjc, nrt, lab)"),
        ({"regions": REGIONS, "country_regions": {"Germany": "fra"}},
         "country_regions: 'Germany' is not an ISO 3166 two-letter country code"),
        ({"regions": REGIONS, "db": "other.db"}, "db: give either db or regions, not both"),
    ],
)  # fmt: skip
def test_each_invalid_setting_is_one_line_naming_the_field(
    overrides: dict[str, Any], message: str
) -> None:
    assert config_error(**overrides) == message


def test_several_problems_give_one_line_each() -> None:
    lines = config_error(readers=0, cache_ttl=0, regions=_regions_with(1, url="ftp://x")).split(
        "\n"
    )
    assert lines == [
        f"regions.1.url: unknown URL scheme 'ftp' {SCHEMES}",
        "readers: input should be greater than or equal to 1",
        "cache_ttl: input should be greater than 0",
    ]


def test_env_mistake_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEOPT_CACHE_MAXSIZE", "0")
    assert config_error() == "cache_maxsize: input should be greater than or equal to 1"


def test_single_region_is_the_primary_and_names_are_lower_case() -> None:
    s = load_settings(regions=[{"name": " Edge-EU ", "url": "a.db"}])
    assert s.region_names() == ["edge-eu"] and s.primary_region.name == "edge-eu"
    assert s.get_region("EDGE-EU").url == "a.db"
    with pytest.raises(ConfigError, match=r"^unknown region 'x' \(configured: edge-eu\)$"):
        s.get_region("x")


# -- secrets -----------------------------------------------------------------------------------


def _everything_printed(obj: object) -> str:
    model = obj if isinstance(obj, Settings | RegionSettings) else None
    parts = [repr(obj), str(obj), f"{obj}", f"{obj!r}"]
    if model is not None:
        parts += [
            model.model_dump_json(),
            json.dumps(model.model_dump(mode="json")),
            str(model.model_dump()),
        ]
    return "\n".join(parts)


def test_auth_token_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEOPT_AUTH_TOKEN", TOKEN)
    s = settings()
    region = s.get_region("lhr")
    assert region.auth_token is not None and region.auth_token.get_secret_value() == TOKEN
    # The top-level token is every tokenless region's token, and just as hidden.
    fra_token = s.get_region("fra").auth_token
    assert fra_token is not None and fra_token.get_secret_value() == TOKEN
    router = RegionRouter(s)
    router.record_failure("lhr", "boom")
    outputs = [_everything_printed(x) for x in (s, region, s.regions)]
    outputs.append(repr(router.snapshot()))
    assert "**********" in outputs[0]
    for text in outputs:
        assert TOKEN not in text


@pytest.mark.parametrize(
    "overrides",
    [
        {"regions": _regions_with(0, auth_token=TOKEN, latitude=1.0)},  # model-level error
        {"regions": _regions_with(0, auth_token={"value": TOKEN})},  # an invalid token
        {"regions": REGIONS, "region": "nowhere"},
        {"auth_token": TOKEN, "readers": 0},
    ],
)
def test_auth_token_is_never_in_errors(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    full = "".join(traceback.format_exception(info.value))  # the chained pydantic error too
    assert info.value.__cause__ is not None
    assert TOKEN not in full


def test_direct_model_errors_hide_the_token_too() -> None:
    with pytest.raises(ValueError) as info:
        RegionSettings(name="x", url="ftp://h", auth_token=TOKEN)
    assert TOKEN not in str(info.value) and "unknown URL scheme 'ftp'" in str(info.value)


# -- which region ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        (None, {}, "lhr"),  # nothing says: the primary
        ("nrt", {"EDGEOPT_REGION": "iad", "FLY_REGION": "fra"}, "nrt"),  # settings.region first
        (None, {"EDGEOPT_REGION": "IAD", "FLY_REGION": "fra"}, "iad"),
        (None, {"FLY_REGION": "fra", "VERCEL_REGION": "iad1", "AWS_REGION": "us-west-1"}, "fra"),
        (None, {"VERCEL_REGION": "iad1", "AWS_REGION": "us-west-1"}, "iad"),  # nearest to iad1
        (None, {"AWS_REGION": "us-west-1"}, "sjc"),
        (None, {"FLY_REGION": "cdg"}, "lhr"),  # not configured: the nearest configured one
        (None, {"FLY_REGION": "lab"}, "lab"),  # configured by name, position unknown
        (None, {"FLY_REGION": "xyz9", "AWS_REGION": "ap-northeast-1"}, "nrt"),  # unknown: skipped
        (None, {"FLY_REGION": "xyz9"}, "lhr"),
    ],
)
def test_local_region_precedence(
    configured: str | None, environ: dict[str, str], expected: str
) -> None:
    assert local_region(settings(region=configured), environ) == expected


def test_local_region_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings()
    monkeypatch.setenv("FLY_REGION", "syd")  # nearest configured: nrt
    assert local_region(s) == "nrt" and RegionRouter(s).local == "nrt"


def test_unknown_edgeopt_region_in_environ_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^unknown region 'mars' \(configured: lhr, "):
        local_region(settings(), {"EDGEOPT_REGION": "mars"})


def test_country_map_picks_the_nearest_configured_region() -> None:
    m = settings().country_map()
    expected = {"GB": "lhr", "IE": "lhr", "DE": "fra", "PL": "fra", "IT": "fra", "US": "iad",
                "CA": "iad", "BR": "iad", "JP": "nrt", "KR": "nrt", "AU": "nrt",
                "IN": "nrt"}  # fmt: skip
    assert {c: m[c] for c in expected} == expected
    assert "lab" not in m.values()  # no position: never "nearest"
    assert len(m) >= 60


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"CF-IPCountry": "DE"}, "fra"),
        ({"cf-ipcountry": "jp"}, "nrt"),
        ({"X-Vercel-IP-Country": "US"}, "iad"),
        ({"cloudfront-viewer-country": "GB"}, "lhr"),
        ({"CF-IPCountry": "JP", "X-Vercel-IP-Country": "DE"}, "nrt"),  # Cloudflare's first
        ({"CF-IPCountry": "FR"}, "sjc"),  # override beats distance
        ({"CF-IPCountry": "XX"}, "iad"),  # Cloudflare's "unknown": the default
        ({"CF-IPCountry": "T1"}, "iad"),  # Tor
        ({"CF-IPCountry": "AQ"}, "iad"),  # not in the table
        ({"Accept": "text/html"}, "iad"),
    ],
)
def test_region_for_request(headers: dict[str, str], expected: str) -> None:
    s = settings(country_regions={"fr": "SJC"})
    assert region_for_request(s, headers, default="iad") == expected


def test_region_for_request_defaults_to_the_local_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLY_REGION", "sjc")
    assert region_for_request(settings(), {"CF-IPCountry": "XX"}) == "sjc"
    assert region_for_request(settings(), {"CF-IPCountry": "DE"}) == "fra"


# -- routing ---------------------------------------------------------------------------------


def router(**overrides: Any) -> tuple[RegionRouter, FakeTimer]:
    timer = FakeTimer(1000.0)
    return RegionRouter(settings(**overrides), local="fra", timer=timer), timer


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("fra", ["fra", "lhr", "iad", "sjc", "nrt", "lab"]),
        ("iad", ["iad", "sjc", "lhr", "fra", "nrt", "lab"]),
        ("nrt", ["nrt", "sjc", "fra", "lhr", "iad", "lab"]),
        ("lab", ["lab", "lhr", "fra", "iad", "sjc", "nrt"]),  # no position: configuration order
    ],
)
def test_read_order_is_nearest_first(origin: str, expected: list[str]) -> None:
    r, _ = router()
    assert r.read_order(origin) == expected


def test_read_order_defaults_to_local_and_rejects_unknown_regions() -> None:
    r, _ = router()
    assert r.read_order()[0] == "fra" and r.read_order("FRA")[0] == "fra"
    with pytest.raises(ConfigError, match="unknown region 'mars'"):
        r.read_order("mars")
    with pytest.raises(ConfigError, match="unknown region 'mars'"):
        r.record_failure("mars", "x")


def test_failover_after_consecutive_errors() -> None:
    r, _ = router()
    r.record_failure("fra", "boom")
    r.record_success("fra", 0.01)  # a success resets the count
    r.record_failure("fra", "boom")
    r.record_failure("fra", ConnectionError("refused\nsecond line"))
    assert r.is_healthy("fra") and r.read_order()[0] == "fra"
    r.record_failure("fra", ConnectionError("refused\nsecond line"))
    assert not r.is_healthy("fra")
    assert r.read_order() == ["lhr", "iad", "sjc", "nrt", "lab", "fra"]  # next-nearest, fra last
    state = r.snapshot()["fra"]
    assert state.reason == "3 consecutive errors, last: ConnectionError: refused"
    assert (state.consecutive_errors, state.retry_in) == (3, 5.0)


def test_failover_when_latency_ewma_is_too_high() -> None:
    r, _ = router(latency_ewma_alpha=0.5, max_latency_ms=100)
    r.record_success("lhr", 0.050)  # first sample sets the EWMA: 50
    r.record_success("lhr", 0.130)  # 0.5*130 + 0.5*50 = 90
    assert r.is_healthy("lhr") and r.snapshot()["lhr"].ewma_ms == pytest.approx(90.0)
    r.record_success("lhr", 0.130)  # 110 > 100
    assert not r.is_healthy("lhr")
    assert r.snapshot()["lhr"].reason == "latency EWMA 110 ms > 100 ms"
    assert r.read_order("lhr") == ["fra", "iad", "sjc", "nrt", "lab", "lhr"]


def test_recovery_after_retry_after_is_half_open() -> None:
    r, timer = router(retry_after=10)
    r.mark_unhealthy("fra", "health check: connection refused")
    timer.tick(9.9)
    assert r.read_order()[0] == "lhr"
    r.record_success("fra", 0.01)  # a late reply before the wait is over restores nothing
    assert not r.is_healthy("fra")
    timer.tick(0.1)
    assert r.read_order()[0] == "fra"  # the one trial request
    assert r.read_order()[0] == "lhr"  # everyone else keeps away while it runs
    assert not r.is_healthy("fra")
    r.record_success("fra", 0.02)
    assert r.is_healthy("fra") and r.read_order()[0] == "fra"
    snap = r.snapshot()["fra"]
    assert (snap.healthy, snap.reason, snap.retry_in, snap.ewma_ms) == (True, None, None, 20.0)


def test_failed_trial_starts_a_new_wait() -> None:
    r, timer = router(retry_after=10, unhealthy_after_errors=5)
    r.mark_unhealthy("fra", "down")
    timer.tick(10)
    assert r.read_order()[0] == "fra"
    r.record_failure("fra", "still down")  # one failure is enough for a trial
    assert r.snapshot()["fra"].reason == "trial request failed: still down"
    timer.tick(9)
    assert r.read_order()[0] == "lhr" and r.snapshot()["fra"].retry_in == pytest.approx(1.0)
    timer.tick(1)
    assert r.read_order()[0] == "fra"


def test_unanswered_trial_is_handed_out_again_after_another_wait() -> None:
    r, timer = router(retry_after=10)
    r.mark_unhealthy("fra", "down")
    timer.tick(10)
    assert r.read_order()[0] == "fra"
    timer.tick(5)
    assert r.read_order()[0] == "lhr"
    timer.tick(5)
    assert r.read_order()[0] == "fra"


def test_slow_trial_keeps_the_region_down() -> None:
    r, timer = router(retry_after=1, max_latency_ms=100)
    r.mark_unhealthy("fra", "slow")
    timer.tick(1)
    r.read_order()
    r.record_success("fra", 0.3)
    assert not r.is_healthy("fra") and r.snapshot()["fra"].reason == "latency 300 ms > 100 ms"


def test_trial_goes_only_where_the_region_would_be_first() -> None:
    r, timer = router(retry_after=1)
    r.mark_unhealthy("iad", "down")
    timer.tick(1)
    # From fra, iad is not the first choice: it stays at the end, and its trial is not spent.
    assert r.read_order("fra") == ["fra", "lhr", "sjc", "nrt", "lab", "iad"]
    assert r.read_order("iad")[0] == "iad"


def test_health_checks_mark_regions_and_errors_count_while_down() -> None:
    r, _ = router()
    r.mark_unhealthy("nrt", "SELECT 1 timed out")
    r.record_failure("nrt", "again")
    snap = r.snapshot()
    assert (snap["nrt"].healthy, snap["nrt"].reason, snap["nrt"].consecutive_errors) == (
        False, "SELECT 1 timed out", 1)  # fmt: skip
    r.mark_healthy("nrt")
    snap = r.snapshot()
    assert (snap["nrt"].healthy, snap["nrt"].reason, snap["nrt"].consecutive_errors) == (
        True, None, 0)  # fmt: skip
    assert list(snap) == ["lhr", "fra", "iad", "sjc", "nrt", "lab"]
    assert [n for n, s in snap.items() if s.primary] == ["lhr"]


def test_every_region_down_still_leaves_somewhere_to_try() -> None:
    r, _ = router()
    for name in ("lhr", "fra", "iad", "sjc", "nrt", "lab"):
        r.mark_unhealthy(name, "down")
    assert r.read_order() == ["fra", "lhr", "iad", "sjc", "nrt", "lab"]


def test_writes_always_go_to_the_primary() -> None:
    r, timer = router()
    assert r.write_region() == "lhr" and r.local == "fra"
    r.mark_unhealthy("lhr", "down")  # writes have nowhere else to go
    assert r.write_region() == "lhr"
    r.mark_unhealthy("fra", "down")
    timer.tick(60)
    assert r.write_region() == "lhr"
    other = RegionRouter(settings(), local="nrt")
    assert other.write_region() == "lhr" and other.read_order()[0] == "nrt"
