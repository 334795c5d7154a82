"""Wells: ``well_grid`` and ``well_movies``."""
