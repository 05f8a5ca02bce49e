"""Backtests: the shipped engines' logic over recorded ticks, on recorded time (cli.py: the
command; bench backtest and the tests use the names below)."""

from engines.backtest._config import describe, load, parse_sweep
from engines.backtest._data import TickFile, load_ticks, save_ticks
from engines.backtest._metrics import summary
from engines.backtest._pipeline import BacktestConfig, BacktestResult, run

__all__ = ["BacktestConfig", "BacktestResult", "TickFile", "describe", "load", "load_ticks",
           "parse_sweep", "run", "save_ticks", "summary"]
