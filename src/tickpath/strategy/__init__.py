"""Strategies: the interface a strategy stage calls, and the shipped examples.

A strategy is compiled code that sees the top of a book after each update (a record of
:mod:`tickpath.strategy.records`) and answers with orders to send (rows of
:data:`tickpath.strategy.layout.ORDER_WORDS` int64 words). See :mod:`tickpath.strategy.market_maker`.
"""
