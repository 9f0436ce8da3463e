"""Strategies: the interface a strategy stage calls, and the shipped strategies.

A strategy is a module: a state type (a namedtuple of arrays), ``new(params, ctx_info)`` that
builds one, and compiled callbacks registered for the type (:mod:`tickpath.strategy.api`:
``on_book``, ``on_trade``, ``on_order_update``, ``on_timer``). Callbacks read the context
(:mod:`tickpath.strategy.context`: books, our orders and positions, the feed's freshness, the
kill switch) and write intents to its outbox (:mod:`tickpath.strategy.layout`), which the
stage that owns egress drains. Strategies are loaded by module path
(:mod:`tickpath.strategy.loader`); :mod:`tickpath.strategy.market_maker` is the shipped one,
:mod:`tickpath.strategy.simfill` the fill model of a backtest. docs/strategy.md says how to
write one.
"""
