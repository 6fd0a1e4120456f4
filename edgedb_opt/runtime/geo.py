"""Where region codes and countries are on the globe, and how far apart two points are.

The tables are approximate (an airport or a metro area per region, a point near each
country's population centre rather than its geometric centroid, since that is where the
requests come from): good enough to rank regions by distance, not to navigate by.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

Point = tuple[float, float]

#: Region codes of Fly.io (IATA airports), AWS and Vercel (IATA plus a digit) → (lat, lon).
REGION_COORDINATES: dict[str, Point] = {
    # Fly.io (also the location codes of Turso's own databases)
    "ams": (52.31, 4.76), "arn": (59.65, 17.92), "atl": (33.64, -84.43),
    "bog": (4.70, -74.15), "bom": (19.09, 72.87), "bos": (42.36, -71.01),
    "cdg": (49.01, 2.55), "den": (39.86, -104.67), "dfw": (32.90, -97.04),
    "ewr": (40.69, -74.17), "eze": (-34.82, -58.54), "fra": (50.04, 8.56),
    "gdl": (20.52, -103.31), "gig": (-22.81, -43.25), "gru": (-23.43, -46.47),
    "hkg": (22.31, 113.91), "iad": (38.94, -77.46), "jnb": (-26.14, 28.25),
    "lax": (33.94, -118.41), "lhr": (51.47, -0.45), "mad": (40.47, -3.57),
    "mia": (25.79, -80.29), "nrt": (35.77, 140.39), "ord": (41.97, -87.91),
    "otp": (44.57, 26.08), "phx": (33.43, -112.01), "qro": (20.62, -100.19),
    "scl": (-33.39, -70.79), "sea": (47.45, -122.31), "sin": (1.36, 103.99),
    "sjc": (37.36, -121.93), "syd": (-33.95, 151.18), "waw": (52.17, 20.97),
    "yul": (45.47, -73.74), "yyz": (43.68, -79.63),
    # AWS
    "us-east-1": (38.95, -77.45), "us-east-2": (39.96, -83.00),
    "us-west-1": (37.35, -121.96), "us-west-2": (45.84, -119.70),
    "ca-central-1": (45.50, -73.57), "ca-west-1": (51.05, -114.07),
    "sa-east-1": (-23.55, -46.63), "mx-central-1": (20.59, -100.39),
    "eu-west-1": (53.35, -6.26), "eu-west-2": (51.51, -0.13), "eu-west-3": (48.86, 2.35),
    "eu-central-1": (50.11, 8.68), "eu-central-2": (47.38, 8.54),
    "eu-north-1": (59.33, 18.07), "eu-south-1": (45.46, 9.19), "eu-south-2": (41.65, -0.88),
    "il-central-1": (32.09, 34.78), "me-south-1": (26.07, 50.56),
    "me-central-1": (24.45, 54.38), "af-south-1": (-33.92, 18.42),
    "ap-south-1": (19.08, 72.88), "ap-south-2": (17.39, 78.49),
    "ap-east-1": (22.32, 114.17), "ap-southeast-1": (1.35, 103.82),
    "ap-southeast-2": (-33.87, 151.21), "ap-southeast-3": (-6.21, 106.85),
    "ap-southeast-4": (-37.81, 144.96), "ap-southeast-5": (3.14, 101.69),
    "ap-northeast-1": (35.68, 139.69), "ap-northeast-2": (37.57, 126.98),
    "ap-northeast-3": (34.69, 135.50),
    # Vercel
    "arn1": (59.65, 17.92), "bom1": (19.09, 72.87), "cdg1": (49.01, 2.55),
    "cle1": (41.41, -81.85), "cpt1": (-33.97, 18.60), "dub1": (53.43, -6.25),
    "dxb1": (25.25, 55.36), "fra1": (50.04, 8.56), "gru1": (-23.43, -46.47),
    "hkg1": (22.31, 113.91), "hnd1": (35.55, 139.78), "iad1": (38.94, -77.46),
    "icn1": (37.46, 126.44), "kix1": (34.43, 135.24), "lhr1": (51.47, -0.45),
    "pdx1": (45.59, -122.60), "sfo1": (37.62, -122.38), "sin1": (1.36, 103.99),
    "syd1": (-33.95, 151.18),
}  # fmt: skip

#: ISO 3166-1 alpha-2 country codes → a point near the country's population centre.
COUNTRY_COORDINATES: dict[str, Point] = {
    # Americas
    "US": (37.4, -92.2), "CA": (45.0, -77.0), "MX": (20.5, -100.0), "GT": (14.6, -90.5),
    "CO": (4.6, -74.1), "VE": (10.0, -67.0), "PE": (-12.0, -77.0), "EC": (-1.5, -78.5),
    "BR": (-20.0, -46.0), "AR": (-34.6, -60.0), "CL": (-33.5, -70.7), "UY": (-34.9, -56.2),
    # Europe
    "GB": (52.5, -1.5), "IE": (53.3, -7.0), "FR": (47.0, 2.5), "DE": (50.9, 9.5),
    "NL": (52.2, 5.3), "BE": (50.8, 4.4), "LU": (49.6, 6.1), "CH": (47.0, 8.0),
    "AT": (48.0, 15.0), "ES": (40.2, -3.7), "PT": (39.5, -8.5), "IT": (42.5, 12.5),
    "SE": (59.0, 16.0), "NO": (60.5, 9.0), "DK": (55.7, 10.5), "FI": (61.5, 25.0),
    "PL": (52.0, 19.5), "CZ": (49.8, 15.5), "SK": (48.7, 19.5), "HU": (47.3, 19.3),
    "RO": (45.5, 25.5), "BG": (42.7, 25.0), "GR": (38.5, 23.0), "RS": (44.2, 20.8),
    "HR": (45.5, 16.0), "UA": (49.5, 31.0), "RU": (55.7, 40.0), "TR": (40.0, 31.0),
    # Middle East and Africa
    "IL": (32.0, 34.9), "SA": (24.0, 45.0), "AE": (24.8, 55.0), "QA": (25.3, 51.5),
    "IR": (34.5, 51.0), "IQ": (33.0, 44.0), "EG": (30.0, 31.2), "MA": (33.0, -6.5),
    "DZ": (35.5, 3.5), "TN": (35.8, 10.0), "NG": (8.0, 6.0), "GH": (6.5, -1.0),
    "KE": (-0.8, 36.8), "ET": (9.0, 38.7), "TZ": (-6.5, 37.5), "ZA": (-27.5, 28.0),
    # Asia and Oceania
    "IN": (22.5, 79.0), "PK": (30.0, 71.0), "BD": (23.7, 90.4), "LK": (7.0, 80.0),
    "NP": (27.7, 85.3), "CN": (32.0, 114.0), "HK": (22.3, 114.2), "TW": (24.0, 121.0),
    "JP": (35.5, 137.5), "KR": (37.0, 127.5), "SG": (1.35, 103.8), "MY": (3.5, 102.0),
    "TH": (14.5, 100.5), "VN": (16.0, 106.5), "PH": (13.0, 121.5), "ID": (-6.5, 108.0),
    "KZ": (47.0, 71.0), "AU": (-33.0, 148.0), "NZ": (-38.5, 175.5),
}  # fmt: skip

_EARTH_RADIUS_KM = 6371.0


def region_point(code: str) -> Point | None:
    """Coordinates of a known region code (any case; Turso's ``aws-`` prefix allowed).

    >>> region_point("FRA")
    (50.04, 8.56)
    >>> region_point("aws-eu-west-1")
    (53.35, -6.26)
    >>> region_point("moon-1") is None
    True
    """
    key = code.strip().lower()
    return REGION_COORDINATES.get(key) or REGION_COORDINATES.get(key.removeprefix("aws-"))


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance between two (lat, lon) points, by the haversine formula.

    Written out rather than imported: one formula does not earn a geodesy dependency.

    >>> round(distance_km(region_point("lhr"), region_point("cdg")))
    347
    >>> distance_km((0.0, 0.0), (0.0, 0.0))
    0.0
    """
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2
    h += math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest(origin: Point, places: Iterable[tuple[str, Point | None]]) -> str | None:
    """The name of the place nearest ``origin``; places without coordinates never win.

    Ties go to the place listed first.

    >>> nearest((48.0, 2.0), [("iad", region_point("iad")), ("fra", region_point("fra"))])
    'fra'
    >>> nearest((48.0, 2.0), [("somewhere", None)]) is None
    True
    """
    best: tuple[float, str] | None = None
    for name, point in places:
        if point is None:
            continue
        d = distance_km(origin, point)
        if best is None or d < best[0]:
            best = (d, name)
    return None if best is None else best[1]
