"""Raw recordings to windows: reading CSV/HDF5 recordings through one registry of formats,
inspecting a folder, cleaning, resampling and cutting windows, and the synthetic sample."""
