"""Well localization: lattice fit (``lattice``), stage drift (``drift``), canonical crops
(``crops``) and per-well OME-Zarr movies (``movies``); parameters in ``config``.

The Faster R-CNN detector lives beside them (``detector``, ``dataset``, ``engine``) and is
imported explicitly, never from here, so the geometry code needs no torch.
"""
