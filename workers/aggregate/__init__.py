"""Aggregator task kinds: upstream results become documents, spreadsheets, slide decks and sites.

Each kind writes its files only through :mod:`workers.aggregate.files`, which confines them to
the run's artifact folder, records them, and makes their bytes deterministic.
"""
