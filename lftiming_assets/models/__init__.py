"""Model assets: trained, logged and registered in MLflow."""
