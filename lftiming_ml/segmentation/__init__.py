"""Cell instance segmentation: LOCSNET (paper section 2.2) and its Mask R-CNN baseline.

Inference: ``config`` (profiles, recipes, model names), ``model`` (``build_segmenter``,
rebuilding a registered model), ``postprocess`` (pure functions), ``infer``
(``segment_crops``), ``serving`` (load-by-alias, ``chip_cell_masks``).
Training: ``losses``, ``data`` (samples from simulated chips and annotated images, read
through ``lftiming_ml.truth``), ``dataset`` (torch dataset), ``engine`` (``train_segmenter``,
validation), ``offline`` (a training bundle, ``python -m lftiming_ml.segmentation.offline``),
``training`` (train and register in MLflow).

Import from the modules; this package imports none of them, so loading the inference
modules never loads the training side.
"""
