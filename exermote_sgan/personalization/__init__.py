"""Personalisation: adapt a trained run to one person with a few of their own labelled
recordings, and score it on their other recordings."""
