"""Model storage shared by every trained model.

``registry``: MLflow logging, registration and loading by alias. ``bundle``: a trained model
as a folder (weights, config, params, metrics), written where MLflow is absent (a GPU
machine) and registered later. ``training``: loop pieces shared by the detection models.
This package imports none of them, so ``bundle`` and ``training`` work without MLflow.
"""
