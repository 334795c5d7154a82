"""Classification: the ``celltype_classifier`` / ``apoptosis_classifier`` model assets, ``cell_types`` and ``cell_deaths``."""
