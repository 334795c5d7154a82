"""The review window's dock panel: the well, why it is suspicious, its cells table, buttons.

A plain Qt widget (``qtpy``, imported when a panel is built, so the library loads without
Qt): a title (chip, well, place in the queue), the suspicion score and reasons, where the
labels came from and the provenance a save gives, a table with one row per track label
(``label`` read-only; ``cell_type`` a choice of -, effector, target; ``death_frame`` a frame,
``none`` for "never dies" or empty for no label; ``parent`` the mother's label or empty),
the buttons Previous, Add rows for new labels, Save, Next, and a status line (errors in red).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from lftiming_ml.annotations.schema import CELL_TYPES

NO_TYPE = "-"
TABLE_COLUMNS = ("label", "cell_type", "death_frame", "parent")


class ReviewPanel:
    """The dock widget (``widget``) and its parts; ``on_previous``, ``on_save``, ``on_next``
    are called by the buttons, ``labels_in_use`` gives the labels painted now (for the
    Add rows button)."""

    def __init__(self, *, on_previous: Callable[[], object], on_save: Callable[[], object],
                 on_next: Callable[[], object], labels_in_use: Callable[[], Iterable[int]]) -> None:
        from qtpy.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QTableWidget,
                                    QVBoxLayout, QWidget)

        self._labels_in_use = labels_in_use
        self.widget = QWidget()
        self.widget.setObjectName("lftiming_review_panel")
        self.widget.setMinimumWidth(400)
        layout = QVBoxLayout(self.widget)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.reasons = QLabel()
        self.reasons.setWordWrap(True)
        self.origin = QLabel()
        self.origin.setWordWrap(True)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(["label", "cell type", "death frame", "parent"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((60, 110, 100)):
            self.table.setColumnWidth(column, width)
        buttons = QHBoxLayout()
        self.previous_button = QPushButton("< Previous")
        self.add_rows_button = QPushButton("Add rows")
        self.add_rows_button.setToolTip("a row for each label painted that the table lacks")
        self.save_button = QPushButton("Save (s)")
        self.next_button = QPushButton("Next >")
        for button, action in ((self.previous_button, on_previous), (self.add_rows_button, self.add_missing_rows),
                               (self.save_button, on_save), (self.next_button, on_next)):
            button.clicked.connect(lambda _=False, action=action: action())
            buttons.addWidget(button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        hint = QLabel("Edit the 'tracks' layer with napari's label tools (one label = one track over all "
                      "frames); types, deaths and mothers here. Save writes the well into the annotations "
                      "store. Keys: s save, n next, Shift-N previous.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: gray")
        for w in (self.title, self.reasons, self.origin, self.table):
            layout.addWidget(w)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(hint)

    def show_well(self, *, title: str, reasons: Sequence[str], origin: str, rows: Sequence[dict]) -> None:
        """Show a newly opened well: its texts and its cells table."""
        self.title.setText(f"<b>{title}</b>")
        self.reasons.setText("<br>".join(f"&bull; {r}" for r in reasons) if reasons else "no reasons recorded")
        self.origin.setText(origin)
        self.table.setRowCount(0)
        for row in rows:
            self.add_row(row)
        self.set_status("")

    def add_row(self, row: dict) -> None:
        """Append a row (``TABLE_COLUMNS``, values as text)."""
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QComboBox, QTableWidgetItem

        i = self.table.rowCount()
        self.table.insertRow(i)
        label = QTableWidgetItem(str(row["label"]))
        label.setFlags(label.flags() & ~Qt.ItemIsEditable)
        self.table.setItem(i, 0, label)
        combo = QComboBox()
        combo.addItems([NO_TYPE, *CELL_TYPES])
        combo.setCurrentText(row.get("cell_type") or NO_TYPE)
        self.table.setCellWidget(i, 1, combo)
        self.table.setItem(i, 2, QTableWidgetItem(str(row.get("death_frame") or "")))
        self.table.setItem(i, 3, QTableWidgetItem(str(row.get("parent") or "")))

    def add_missing_rows(self) -> None:
        """A row (no labels yet) for each label in use that the table lacks."""
        have = {int(r["label"]) for r in self.rows()}
        for label in sorted(set(int(v) for v in self._labels_in_use()) - have):
            self.add_row({"label": label, "cell_type": "", "death_frame": "", "parent": ""})

    def rows(self) -> list[dict]:
        """The table as rows of ``TABLE_COLUMNS`` (text; an unset cell type is empty)."""
        out = []
        for i in range(self.table.rowCount()):
            kind = self.table.cellWidget(i, 1).currentText()
            out.append({"label": self.table.item(i, 0).text(), "cell_type": "" if kind == NO_TYPE else kind,
                        "death_frame": self.table.item(i, 2).text(), "parent": self.table.item(i, 3).text()})
        return out

    def row_of(self, label: int) -> int:
        """The table row of ``label`` (KeyError when it has none)."""
        for i in range(self.table.rowCount()):
            if int(self.table.item(i, 0).text()) == int(label):
                return i
        raise KeyError(f"no row for label {label}")

    def set_cell_type(self, label: int, cell_type: str | None) -> None:
        """Choose ``cell_type`` (None: no label) in ``label``'s row, as a click in its list would."""
        self.table.cellWidget(self.row_of(label), 1).setCurrentText(cell_type or NO_TYPE)

    def set_text(self, label: int, column: str, text: str) -> None:
        """Type ``text`` into ``label``'s ``death_frame`` or ``parent`` cell."""
        self.table.item(self.row_of(label), TABLE_COLUMNS.index(column)).setText(text)

    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #ff6060" if error else "")


__all__ = ["NO_TYPE", "TABLE_COLUMNS", "ReviewPanel"]
