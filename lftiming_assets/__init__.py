"""lftiming_assets: the Dagster platform (thin assets over ``lftiming_ml``) and the CLI."""
