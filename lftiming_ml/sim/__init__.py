"""The nanowell-chip simulator: optics (``optics``, ``walls``, ``cells``), biology
(``biology``), configuration (``config``) and the chip writer (``chip``)."""
