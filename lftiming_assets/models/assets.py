"""``well_detector``: train the well detector on simulated chips (and a lab's grid labels),
log and register it in MLflow."""

import dagster as dg

from lftiming_assets.annotations.assets import annotations
from lftiming_assets.config import params_metadata
from lftiming_assets.models.config import TrainModelConfig
from lftiming_assets.models.results import registered_model_result
from lftiming_assets.resources import LftimingStorage, MLflowTracking
from lftiming_ml.wells.detector_config import WELL_DETECTOR_CORPUS, train_config
from lftiming_ml.wells.detector_config import MODEL_NAME
from lftiming_ml.wells.training import train_and_register


@dg.asset(group_name="models", kinds={"pytorch", "mlflow"}, deps=[annotations])
def well_detector(context: dg.AssetExecutionContext, config: TrainModelConfig, storage: LftimingStorage,
                  mlflow: MLflowTracking) -> dg.MaterializeResult:
    """Faster R-CNN well detector, registered as ``well_detector`` with an alias; recipe
    ``lftiming_ml.wells.detector_config.DetectorTrainConfig``. From scratch, or fine-tuned
    (``init``) with the grid labels of annotated chips (``lftiming label-wells``)."""
    train, _ = config.recipe(train_config(config.profile))
    data = config.corpus(WELL_DETECTOR_CORPUS)
    labels = config.annotation_corpus()
    mlflow.configure(MODEL_NAME)
    info, history, seconds = train_and_register(
        cache_dir=storage.training_dir("wells"), tracking_uri=mlflow.tracking_uri,
        artifact_location=mlflow.artifact_location(), train=train, data=data, alias=config.alias,
        init=config.init, annotations=labels, layout=storage.layout,
        log_fn=lambda epoch, row: context.log.info(f"epoch {epoch}: loss {row.get('loss', float('nan')):.4f}"))
    return registered_model_result(info, history, seconds, profile=config.profile, n_chips=data.n_chips,
                                   epochs=train.epochs, params=params_metadata(train),
                                   **config.finetune_metadata(labels))
