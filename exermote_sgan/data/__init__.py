"""Reading recordings, cleaning them, cutting windows, splitting by subject, scaling."""
