"""Grid carbon intensity from codecarbon's offline tables (never a network call)."""

from __future__ import annotations

import functools

from green.errors import GreenError

J_PER_KWH = 3.6e6


@functools.lru_cache(maxsize=32)
def grid_intensity_g_per_kwh(country: str = "USA", region: str | None = None) -> float:
    """gCO2e per kWh for an ISO-3 country code (and US/Canadian/Chinese region, if given)."""
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    country = country.upper()
    data = DataSource()
    if country not in data.get_global_energy_mix_data():
        raise GreenError(f"unknown country code {country!r}", "use an ISO 3166 alpha-3 code such as USA, FRA, DEU")
    try:
        kg = Emissions(data).get_private_infra_emissions(Energy.from_energy(kWh=1.0), GeoMetadata(country, region=region))
    except Exception:
        raise GreenError(f"no carbon intensity for {country}/{region}", "drop --region or pick another one") from None
    return float(kg) * 1000.0


def grams_co2e(joules: float, country: str = "USA", region: str | None = None) -> float:
    return joules / J_PER_KWH * grid_intensity_g_per_kwh(country, region)
