"""``well_detector``: train the well detector on simulated chips, log and register it in MLflow."""

import dagster as dg

from lftiming_assets.models.results import registered_model_result
from lftiming_assets.resources import LftimingStorage, MLflowTracking
from lftiming_ml.wells.detector_config import WELL_DETECTOR_CORPUS, train_config
from lftiming_ml.wells.serving import MODEL_NAME, train_and_register


class WellDetectorConfig(dg.Config):
    """What to train; the full recipe is ``lftiming_ml.wells.detector_config``."""

    profile: str = "cpu"
    epochs: int | None = None
    n_chips: int = 10
    alias: str = "champion"


@dg.asset(group_name="models", kinds={"pytorch", "mlflow"})
def well_detector(context: dg.AssetExecutionContext, config: WellDetectorConfig, storage: LftimingStorage,
                  mlflow: MLflowTracking) -> dg.MaterializeResult:
    """Faster R-CNN well detector (from scratch), registered as ``well_detector`` with an alias."""
    overrides = {"epochs": config.epochs} if config.epochs else {}
    train = train_config(config.profile, **overrides)
    data = WELL_DETECTOR_CORPUS.replace(n_chips=config.n_chips)
    mlflow.configure(MODEL_NAME)
    info, history, seconds = train_and_register(
        cache_dir=storage.root / "training" / "wells", tracking_uri=mlflow.tracking_uri,
        artifact_location=mlflow.artifact_location(), train=train, data=data, alias=config.alias,
        log_fn=lambda epoch, row: context.log.info(f"epoch {epoch}: loss {row.get('loss', float('nan')):.4f}"))
    return registered_model_result(info, history, seconds, profile=config.profile, epochs=train.epochs)
