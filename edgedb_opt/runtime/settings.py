"""Settings and the region a process or request belongs to (re-exported by `regions`)."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from edgedb_opt.drivers import DRIVER_NAMES, parse_target
from edgedb_opt.errors import ConfigError
from edgedb_opt.runtime import geo as _geo

__all__ = [
    "RegionSettings",
    "Settings",
    "load_settings",
    "local_region",
    "region_for_request",
]

#: Platform variables naming the region a process runs in, in the order they are consulted.
PLATFORM_VARIABLES = ("FLY_REGION", "VERCEL_REGION", "AWS_REGION")
#: Request headers carrying the client's ISO country, in the order they are consulted.
COUNTRY_HEADERS = ("cf-ipcountry", "x-vercel-ip-country", "cloudfront-viewer-country")

#: The parsed TOML document of the :meth:`Settings.from_toml` call in progress, if any.
_TOML_DATA: ContextVar[dict[str, Any] | None] = ContextVar("_TOML_DATA", default=None)


def _check_url(url: str) -> str:
    try:
        parse_target(url)
    except ConfigError as exc:
        # parse_target names its db parameter and quotes the URL; a field error names the
        # field instead, and a URL can carry credentials.
        raise ValueError(str(exc).removeprefix(f"db {url!r}: ").removeprefix("db ")) from None
    return url.strip()


class RegionSettings(BaseModel):
    """One database endpoint in one place.

    >>> RegionSettings(name="LHR", url="https://db.example", auth_token="t0k").point
    (51.47, -0.45)
    >>> RegionSettings(name="lab", url="lab.db", latitude=1.5, longitude=2.5).point
    (1.5, 2.5)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str
    url: str
    auth_token: SecretStr | None = None
    replica_path: Path | None = None
    sync_interval: float = Field(default=1.0, gt=0)
    primary: bool = False
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        name = value.strip().lower()
        if not name:
            raise ValueError("a region needs a name")
        return name

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @model_validator(mode="after")
    def _coordinates_in_pairs(self) -> RegionSettings:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together: give both or neither")
        return self

    @property
    def point(self) -> _geo.Point | None:
        """(latitude, longitude): as configured, else from the name's code, else None."""
        if self.latitude is not None and self.longitude is not None:
            return (self.latitude, self.longitude)
        return _geo.region_point(self.name)


class Settings(BaseSettings):
    """Everything edgeopt's runtime can be told; see the module docstring for the sources.

    With no ``regions``, the single-database form applies: one primary region named ``local``
    with ``url=db``, ``replica_path=replica`` and ``sync_interval``. ``auth_token`` is also the
    token of every configured region that has none of its own. Giving both ``db`` and
    ``regions`` is an error (which one was meant?).
    """

    model_config = SettingsConfigDict(
        env_prefix="EDGEOPT_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="forbid",
        hide_input_in_errors=True,
    )

    db: str = "./edgeopt.db"
    replica: Path | None = None
    auth_token: SecretStr | None = None
    sync_interval: float = Field(default=1.0, gt=0)
    regions: list[RegionSettings] = Field(default_factory=list)
    region: str | None = None
    driver: str | None = None
    readers: int = Field(default=4, ge=1)
    pool_timeout: float = Field(default=5.0, gt=0)
    max_in_flight: int = Field(default=16, ge=1)
    busy_timeout_ms: int = Field(default=5000, ge=0)
    cache_enabled: bool = True
    cache_maxsize: int = Field(default=1024, ge=1)
    cache_ttl: float = Field(default=30.0, gt=0)
    slow_ms: float = Field(default=200.0, gt=0)
    n_plus_one_threshold: int = Field(default=10, ge=2)
    country_regions: dict[str, str] = Field(default_factory=dict)
    unhealthy_after_errors: int = Field(default=3, ge=1)
    latency_ewma_alpha: float = Field(default=0.2, gt=0, le=1)
    max_latency_ms: float = Field(default=500.0, gt=0)
    retry_after: float = Field(default=5.0, gt=0)
    read_your_writes_s: float = Field(default=5.0, ge=0)
    consistency_tokens: bool = True
    read_wait_s: float = Field(default=0.5, ge=0)
    max_staleness_s: float = Field(default=60.0, ge=0)

    _country_map: dict[str, str] | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = InitSettingsSource(settings_cls, init_kwargs=_TOML_DATA.get() or {})
        return (init_settings, env_settings, toml)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **overrides: Any) -> Settings:
        """Settings from a TOML file (top level, or ``[tool.edgeopt]`` of a pyproject.toml).

        Environment variables override the file and ``overrides`` override both.

        Raises:
            ConfigError: the file is missing or not TOML, or a setting is invalid.
        """
        return load_settings(path, **overrides)

    @field_validator("db")
    @classmethod
    def _db(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return (value.strip().lower() or None) if value is not None else None

    @field_validator("driver")
    @classmethod
    def _driver(cls, value: str | None) -> str | None:
        if value is not None and value not in DRIVER_NAMES:
            raise ValueError(f"unknown driver {value!r} (choose one of {', '.join(DRIVER_NAMES)})")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, regions: list[RegionSettings]) -> list[RegionSettings]:
        names = [r.name for r in regions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"region names must be unique: {', '.join(twice)} given twice")
        primaries = [r.name for r in regions if r.primary]
        if len(regions) == 1 and not primaries:
            return [regions[0].model_copy(update={"primary": True})]
        if len(regions) > 1 and len(primaries) != 1:
            found = ", ".join(primaries) if primaries else "none"
            raise ValueError(f"exactly one region must be primary (found: {found})")
        return regions

    @field_validator("country_regions")
    @classmethod
    def _country_regions(cls, mapping: dict[str, str]) -> dict[str, str]:
        bad = [k for k in mapping if not (len(k.strip()) == 2 and k.strip().isalpha())]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an ISO 3166 two-letter country code")
        return {k.strip().upper(): v.strip().lower() for k, v in mapping.items()}

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        if not self.regions:
            local = RegionSettings(
                name="local",
                url=self.db,
                auth_token=self.auth_token,
                replica_path=self.replica,
                sync_interval=self.sync_interval,
                primary=True,
            )
            self.regions = [local]
        elif "db" in self.model_fields_set:
            raise ValueError("db: give either db or regions, not both")
        elif self.auth_token is not None:
            self.regions = [
                r if r.auth_token else r.model_copy(update={"auth_token": self.auth_token})
                for r in self.regions
            ]
        known = self.region_names()
        if self.region is not None and self.region not in known:
            raise ValueError(
                f"region: {self.region!r} is not a configured region {_listing(known)}"
            )
        for country, name in self.country_regions.items():
            if name not in known:
                raise ValueError(
                    f"country_regions.{country}: {name!r} is not a configured region "
                    f"{_listing(known)}"
                )
        return self

    def all_regions(self) -> list[RegionSettings]:
        """The configured regions (the implicit ``local`` one in the single-database form)."""
        return list(self.regions)

    def region_names(self) -> list[str]:
        """Names of the configured regions, in configuration order."""
        return [r.name for r in self.regions]

    @property
    def primary_region(self) -> RegionSettings:
        """The region that takes every write."""
        return next(r for r in self.regions if r.primary)

    def get_region(self, name: str) -> RegionSettings:
        """The region called ``name`` (any case); ConfigError if there is none."""
        key = name.strip().lower()
        for r in self.regions:
            if r.name == key:
                return r
        raise ConfigError(f"unknown region {name!r} {_listing(self.region_names())}")

    def nearest_region(self, code: str) -> str | None:
        """The configured region called ``code``, else the one nearest that code's place.

        None when ``code`` is neither configured nor a known region code, or when no
        configured region has a known position.
        """
        key = code.strip().lower()
        if key in self.region_names():
            return key
        point = _geo.region_point(key)
        return None if point is None else _geo.nearest(point, self._points())

    def country_map(self) -> dict[str, str]:
        """ISO country code → region: the nearest configured region, then ``country_regions``."""
        if self._country_map is None:
            points = self._points()
            mapping = {
                country: name
                for country, point in _geo.COUNTRY_COORDINATES.items()
                if (name := _geo.nearest(point, points)) is not None
            }
            self._country_map = mapping | self.country_regions
        return self._country_map

    def _points(self) -> list[tuple[str, _geo.Point | None]]:
        return [(r.name, r.point) for r in self.regions]


def _listing(names: list[str]) -> str:
    return f"(configured: {', '.join(names)})"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            doc = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {str(path)!r}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {str(path)!r} is not valid TOML: {exc}") from exc
    tool = doc.get("tool")
    if isinstance(tool, dict) and isinstance(tool.get("edgeopt"), dict):
        return dict(tool["edgeopt"])
    return doc


def _problem(error: Any) -> str:
    path = ".".join(str(part) for part in error["loc"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    if msg[:2].istitle():  # pydantic's "Input should be ..." reads better in lower case
        msg = msg[0].lower() + msg[1:]
    return f"{path}: {msg}" if path else msg


def load_settings(config: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``overrides``, ``EDGEOPT_*`` and the TOML file ``config``.

    Raises:
        ConfigError: one line per problem, each naming the field path, as in
            ``regions.1.url: unknown URL scheme 'ftp' (...)``; never a value or a secret.

    >>> load_settings(readers=0, cache_ttl=-1)
    Traceback (most recent call last):
    ...
    edgedb_opt.errors.ConfigError: readers: input should be greater than or equal to 1
    cache_ttl: input should be greater than 0
    """
    data = _read_toml(Path(config)) if config is not None else {}
    token = _TOML_DATA.set(data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # hide_input_in_errors keeps values (and tokens) out of the chained error too.
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        raise ConfigError("\n".join(_problem(e) for e in problems)) from exc
    except SettingsError as exc:
        field = re.search(r'field "(\w+)"', str(exc))
        name = field.group(1) if field else "settings"
        raise ConfigError(
            f"{name}: cannot parse EDGEOPT_{name.upper()} (lists and tables are written as JSON)"
        ) from exc
    finally:
        _TOML_DATA.reset(token)


def local_region(settings: Settings, environ: Mapping[str, str] = os.environ) -> str:
    """The region this process runs in.

    Consulted in order: ``settings.region``, ``EDGEOPT_REGION`` in ``environ`` (must name a
    configured region), then ``FLY_REGION``, ``VERCEL_REGION``, ``AWS_REGION`` (the configured
    region of that name, else the configured region nearest that platform region; an unknown
    code is skipped), and finally the primary.

    >>> s = load_settings(regions=[{"name": "iad", "url": "a.db", "primary": True},
    ...                            {"name": "lhr", "url": "b.db"}])
    >>> local_region(s, {"FLY_REGION": "cdg"}), local_region(s, {})
    ('lhr', 'iad')
    """
    if settings.region:
        return settings.region
    explicit = environ.get("EDGEOPT_REGION", "").strip()
    if explicit:
        return settings.get_region(explicit).name
    for variable in PLATFORM_VARIABLES:
        code = environ.get(variable, "").strip()
        if code and (name := settings.nearest_region(code)) is not None:
            return name
    return settings.primary_region.name


def region_for_request(
    settings: Settings, headers: Mapping[str, str], *, default: str | None = None
) -> str:
    """The region that should serve a request, from its client-country header.

    Headers are matched case-insensitively (``CF-IPCountry``, ``X-Vercel-IP-Country``,
    ``CloudFront-Viewer-Country``, first present wins). A country outside
    :meth:`Settings.country_map`, or no usable header (Cloudflare's ``XX``/``T1``), yields
    ``default``, which is :func:`local_region` when not given.
    """
    wanted = {h.lower(): v for h, v in headers.items()}
    for header in COUNTRY_HEADERS:
        country = wanted.get(header, "").strip().upper()
        if len(country) == 2 and country.isalpha() and country != "XX":
            region = settings.country_map().get(country)
            if region is not None:
                return region
            break
    return default if default is not None else local_region(settings)
