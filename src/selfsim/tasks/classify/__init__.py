"""Classification from few labels: the probe, self-training, propagation, labelling functions and their label
model, the one estimator that combines them (``estimator``), what to label next, and the store side
(``collection``)."""
