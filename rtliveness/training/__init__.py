"""Training and evaluation: datasets in the origin layout, synthesis, teachers, training, metrics."""
