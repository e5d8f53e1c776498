"""Export of a trained classifier to Core ML (and TFLite), verified numerically."""
