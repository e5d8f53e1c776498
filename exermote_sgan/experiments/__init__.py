"""Experiments around the trainer: compare settings over people and seeds (locally or on Ray),
the random-forest reference beside every network, tables and statistics, ensembles of runs."""
