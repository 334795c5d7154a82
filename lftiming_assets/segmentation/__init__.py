"""Segmentation: the ``locsnet`` and ``mask_rcnn_baseline`` model assets and ``cell_masks``."""
