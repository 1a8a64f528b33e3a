"""Grid carbon intensity from codecarbon's offline tables (never a network call)."""

from __future__ import annotations

import functools

from green.errors import GreenError

J_PER_KWH = 3.6e6


#: Countries for which codecarbon's offline tables have regional figures.
REGIONAL = ("USA", "CAN", "CHN", "SWE", "NOR", "FIN")


@functools.lru_cache(maxsize=32)
def grid_intensity_g_per_kwh(country: str = "USA", region: str | None = None) -> float:
    """gCO2e per kWh for an ISO-3 country code (and a region where codecarbon has regional data).

    An unknown country or region is an error: codecarbon itself would log a traceback and
    silently fall back to the country's figure.
    """
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    country = country.upper()
    data = DataSource()
    if country not in data.get_global_energy_mix_data():
        raise GreenError(f"unknown country code {country!r}", "use an ISO 3166 alpha-3 code such as USA, FRA, DEU")
    if region is not None and country not in REGIONAL:
        raise GreenError(f"--region {region!r}: codecarbon has regional figures only for {', '.join(REGIONAL)}",
                         "drop --region")
    kwh = Energy.from_energy(kWh=1.0)
    emissions = Emissions(data)
    kg: float | None
    try:
        if region is None:
            kg = emissions.get_country_emissions(kwh, GeoMetadata(country))
        else:
            kg = _regional_kg(emissions, kwh, GeoMetadata(country, region=region.lower() if country in ("USA", "CAN")
                                                          else region))
    except Exception:
        kg = None
    if kg is None:
        raise GreenError(f"no carbon intensity for {country}/{region}",
                         "check the region's spelling (US states and Canadian provinces in full), or drop --region")
    return float(kg) * 1000.0


def _regional_kg(emissions, kwh, geo) -> float | None:
    if geo.country_iso_code.upper() == "CHN":  # an unknown province would fall back to the country figure
        return emissions._try_get_china_province_emissions(kwh, geo)
    if geo.country_iso_code.upper() in ("SWE", "NOR", "FIN"):
        return emissions._try_get_nordic_region_emissions(kwh, geo)
    return emissions.get_region_emissions(kwh, geo)


def grams_co2e(joules: float, country: str = "USA", region: str | None = None) -> float:
    return joules / J_PER_KWH * grid_intensity_g_per_kwh(country, region)
