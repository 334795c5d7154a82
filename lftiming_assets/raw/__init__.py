"""Raw chips: the ``raw_chip`` asset, its checks and the folder sensor."""
