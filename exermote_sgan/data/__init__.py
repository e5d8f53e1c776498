"""The windows dataset: the HDF5 windows file, splits by subject and labeled sets, the scaler."""
