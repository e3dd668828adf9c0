"""Training objectives: one loss per file; each `forward` encodes, then a pure function computes the loss."""
