"""Household-level synthetic attributes: place, welfare decile, housing, assets.

A family's welfare is a latent score, its desa's effect (town kelurahan are
better off) plus noise; deciles cut that score at thresholds fitted so that
the deciles keep the target shares (:data:`DECILE_SHARES`, 40 % in deciles
1-4) over the whole kabupaten. Housing and assets are drawn given the
decile (see :mod:`db.seed.sampling`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from db.seed.names import HAMLETS, STREETS
from db.seed.regions import Village, villages
from db.seed.sampling import (
    POVERTY,
    Bools,
    Floats,
    Ints,
    decile_categorical,
    decile_flag,
)

DECILE_SHARES = (0.11, 0.10, 0.10, 0.09, 0.09, 0.09, 0.10, 0.11, 0.11, 0.10)
"""Share of families in deciles 1..10 (Jember is poorer than the national average)."""

WOMAN_HEADED = (0.19, 0.19, 0.19, 0.15, 0.15, 0.15, 0.12, 0.12, 0.12, 0.12)
"""Probability that a family of each decile is headed by a woman (about 15 % overall)."""

ASSETS: tuple[tuple[str, float, float], ...] = (
    ("asset_lpg_tube", 0.02, 0.35),
    ("asset_refrigerator", 0.15, 0.92),
    ("asset_air_conditioner", 0.0, 0.30),
    ("asset_water_heater", 0.0, 0.15),
    ("asset_landline", 0.0, 0.05),
    ("asset_flat_tv", 0.08, 0.75),
    ("asset_gold", 0.05, 0.45),
    ("asset_computer", 0.01, 0.55),
    ("asset_motorcycle", 0.55, 0.95),
    ("asset_bicycle", 0.35, 0.35),
    ("asset_car", 0.0, 0.35),
    ("asset_boat", 0.02, 0.01),
    ("asset_motor_boat", 0.01, 0.01),
    ("asset_smartphone", 0.55, 0.97),
    ("asset_other_land", 0.05, 0.40),
    ("asset_internet", 0.25, 0.90),
    ("asset_bank_account", 0.10, 0.85),
)
"""Asset column, probability among the poorest, probability among the well-off."""

TOWN_EFFECT = 0.5
VILLAGE_SPREAD = 0.3


@dataclass(frozen=True)
class Geography:
    """Where families live and how well off each desa is; fixed for one seed."""

    villages: list[Village]
    weights: Floats
    """Share of all families living in each desa."""
    effects: Floats
    """Each desa's shift of the latent welfare score."""
    thresholds: Floats
    """Latent-score cut points between consecutive deciles."""
    town: Bools
    kecamatan_ordinal: Ints

    @classmethod
    def for_seed(cls, seed: int) -> Geography:
        rng = np.random.default_rng([seed, 0x6E0])
        places = villages()
        town = np.array([village.kecamatan.town for village in places])
        size = rng.lognormal(0.0, 0.3, len(places)) * np.where(town, 1.8, 1.0)
        weights = size / size.sum()
        effects = rng.normal(0.0, VILLAGE_SPREAD, len(places)) + np.where(town, TOWN_EFFECT, 0.0)
        effects -= float(weights @ effects)
        return cls(
            villages=places,
            weights=weights,
            effects=effects,
            thresholds=_fit_thresholds(weights, effects),
            town=town,
            kecamatan_ordinal=np.array([village.kecamatan.ordinal for village in places]),
        )


def _fit_thresholds(weights: Floats, effects: Floats) -> Floats:
    """Cut points of the mixture of N(effect, 1) that give :data:`DECILE_SHARES`."""

    def cdf(x: float) -> float:
        return float(
            sum(
                w * 0.5 * (1 + math.erf((x - e) / math.sqrt(2)))
                for w, e in zip(weights, effects, strict=True)
            )
        )

    cuts = []
    for target in np.cumsum(DECILE_SHARES)[:-1]:
        low, high = -10.0, 10.0
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if cdf(middle) < target else (low, middle)
        cuts.append((low + high) / 2)
    return np.array(cuts)


@dataclass(frozen=True)
class Households:
    """One chunk of families, column-wise; codes index the members of ``db.enums`` types."""

    village: Ints
    town: Bools
    decile: Ints
    woman_headed: Bools
    tenure: Ints
    floor_area: Ints
    floor_material: Ints
    wall_material: Ints
    roof_material: Ints
    drinking_water: Ints
    lighting: Ints
    electricity_wattage: Ints
    """-1 when the lighting is not PLN electricity."""
    cooking_fuel: Ints
    toilet: Ints
    waste_disposal: Ints
    assets: Bools
    """rows × len(ASSETS), in :data:`ASSETS` order."""
    place: Ints
    """Street (town) or hamlet (desa) index."""
    house_number: Ints
    rt: Ints
    rw: Ints

    def __len__(self) -> int:
        return len(self.decile)


def draw_households(rng: np.random.Generator, geography: Geography, *, size: int) -> Households:
    village = rng.choice(len(geography.villages), size=size, p=geography.weights)
    score = geography.effects[village] + rng.normal(0.0, 1.0, size)
    decile = np.searchsorted(geography.thresholds, score).astype(np.int64) + 1
    town = geography.town[village]
    lighting = decile_categorical(rng, decile, poor=(80, 17, 2, 1), rich=(995, 5, 0, 0))
    wattage = decile_categorical(rng, decile, poor=(65, 33, 2, 0, 0), rich=(5, 40, 35, 15, 5))
    toilet = decile_categorical(rng, decile, poor=(45, 15, 5, 5, 30), rich=(97, 2, 1, 0, 0))
    waste = decile_categorical(rng, decile, poor=(35, 0, 25, 20, 18, 2), rich=(93, 2, 2, 3, 0, 0))
    no_toilet = toilet == 4
    waste = np.where(no_toilet, np.where(rng.random(size) < 0.55, 2, 4), waste)
    area_median = 30.0 + 60.0 * (1.0 - POVERTY[decile - 1])
    floor_area = np.clip(np.rint(area_median * rng.lognormal(0.0, 0.35, size)), 8, 1000)
    rw = rng.integers(1, 13, size)
    assets = np.column_stack(
        [decile_flag(rng, decile, poor=poor, rich=rich) for _, poor, rich in ASSETS]
    )
    return Households(
        village=village,
        town=town,
        decile=decile,
        woman_headed=rng.random(size) < np.asarray(WOMAN_HEADED)[decile - 1],
        tenure=decile_categorical(rng, decile, poor=(80, 2, 3, 14, 0, 1), rich=(85, 6, 5, 3, 1, 0)),
        floor_area=floor_area.astype(np.int64),
        floor_material=decile_categorical(
            rng, decile, poor=(0, 10, 0, 5, 3, 40, 2, 40, 0), rich=(3, 85, 1, 5, 0, 6, 0, 0, 0)
        ),
        wall_material=decile_categorical(
            rng, decile, poor=(45, 5, 10, 30, 2, 7, 1), rich=(97, 1, 2, 0, 0, 0, 0)
        ),
        roof_material=decile_categorical(
            rng, decile, poor=(0, 80, 6, 8, 2, 1, 3, 0), rich=(5, 88, 2, 5, 0, 0, 0, 0)
        ),
        drinking_water=decile_categorical(
            rng,
            decile,
            poor=(0, 10, 5, 25, 30, 15, 6, 5, 3, 0, 1),
            rich=(8, 45, 12, 25, 8, 1, 1, 0, 0, 0, 0),
        ),
        lighting=lighting,
        electricity_wattage=np.where(lighting <= 1, wattage, -1),
        cooking_fuel=decile_categorical(
            rng,
            decile,
            poor=(0, 0, 0, 50, 0, 0, 1, 0, 1, 46, 0, 2),
            rich=(3, 5, 15, 73, 1, 0, 0, 0, 0, 1, 0, 2),
        ),
        toilet=toilet,
        waste_disposal=waste,
        assets=assets,
        place=np.where(
            town, rng.integers(0, len(STREETS), size), rng.integers(0, len(HAMLETS), size)
        ),
        house_number=rng.integers(1, 200, size),
        rt=(rw - 1) * 4 + rng.integers(1, 5, size),
        rw=rw,
    )
