"""Features and factors: rolling indicators per symbol and cross-sectional factors at bar close."""

from engines.features._factors import FACTOR_COLUMNS, factors
from engines.features._indicators import BarFeatures, FeatureParams, Features, cs_zscore, pct_rank
from engines.features._records import FACTOR_FIELDS, RETURN_FIELDS, VALUE_FIELDS, FeatureRows
from engines.features._ticks import TickBars
from engines.features.engine import FeaturesEngine, FeaturesEngineParams

__all__ = ["FACTOR_COLUMNS", "FACTOR_FIELDS", "RETURN_FIELDS", "VALUE_FIELDS", "BarFeatures",
           "FeatureParams", "FeatureRows", "Features", "FeaturesEngine",
           "FeaturesEngineParams", "TickBars", "cs_zscore", "factors", "pct_rank"]
