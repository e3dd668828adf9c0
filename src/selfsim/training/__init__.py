"""Training loops that turn data and an objective into a model directory the encoders load."""
