"""The AI's widgets and controls, built onto the main window through its extension points: the
probability-strip and findings docks, the status-bar line and progress bars (first reader, second
reader), the "AI" menu (with the heatmap colours, lesions on/off (L) and their style), File > Export
findings…, and the "AI" toolbar (label, heatmap opacity and display threshold, lesion opacity).
`AiControlsMixin` is mixed into `AiAssist`, which owns the slots the controls call."""
from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from inference.labels import LABELS
from viewer.qt.findings_panel import FindingsPanel
from viewer.qt.heatmap_overlay import COLORMAPS, HeatmapOverlay
from viewer.qt.lesion_overlay import LesionOverlay
from viewer.qt.probability_strip import ProbabilityStrip
from viewer.report.findings import LABEL_NAMES

# The viewer's heat map colours: CET-L17 ends in a dark blue-violet, which stays visible over a bright
# (hyperdense) bleed in the brain window, where inferno's and cividis' light yellow ends fade into
# the white of the blood. All three are perceptually ordered and colour-blind safe.
DEFAULT_COLORMAP = "CET-L17"
COLORMAP_NAMES = {"CET-L17": "White-orange-violet (CET-L17)", "cividis": "Cividis", "inferno": "Inferno"}
MARKER_MS = 60  # the strip's current-slice marker follows scrolling at most this often


class AiControlsMixin:
    """Builds the AI's docks, status widgets, menu entries and toolbar (methods of `AiAssist`)."""

    window: QtWidgets.QMainWindow
    view: Any  # SliceView
    _label: str

    def _build_widgets(self, settings: Any) -> None:
        w = self.window
        self.overlay = HeatmapOverlay(self.view)
        self.overlay.set_opacity(settings.heatmap_opacity)
        self.overlay.set_display_threshold(settings.heatmap_threshold)
        self.overlay.set_visible(settings.heatmap_visible)
        self.overlay.set_label(self._label)
        self.overlay.set_colormap(DEFAULT_COLORMAP)
        self.lesions = LesionOverlay(self.view)
        self.lesions.set_opacity(settings.lesion_opacity)
        self.lesions.set_style(settings.lesion_style)
        self.lesions.set_visible(settings.lesion_visible)
        mpr = getattr(w, "mpr", None)
        if mpr is not None:  # the heatmap and the lesions in the reformatted planes too
            mpr.attach_overlays(self.overlay, self.lesions)

        self.strip = ProbabilityStrip()
        self.strip.set_label(self._label)
        self.strip.slice_clicked.connect(self.view.set_index)
        # Clicking the strip never takes the keyboard from the image; its wheel scrolls the slices.
        self.strip.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.strip.plot_widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.strip.plot_widget.viewport().installEventFilter(self)
        self.verdict_label = QtWidgets.QLabel("")
        self.verdict_label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.verdict_label.setAccessibleName("AI verdict")
        font = self.verdict_label.font()
        font.setBold(True)
        self.verdict_label.setFont(font)
        self.readout_label = QtWidgets.QLabel("")
        self.readout_label.setAccessibleName("AI probability of this slice")
        self.readout_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.readout_label.setMinimumWidth(self.readout_label.fontMetrics().horizontalAdvance(
            "Slice 888 / 888: P(intraparenchymal) 0.00 (≥ operating threshold 0.00)") + 8)
        self._marker_timer = QtCore.QTimer(self)
        self._marker_timer.setSingleShot(True)
        self._marker_timer.setInterval(MARKER_MS)
        self._marker_timer.timeout.connect(self._move_marker)
        strip_box = QtWidgets.QWidget()
        box = QtWidgets.QVBoxLayout(strip_box)
        box.setContentsMargins(4, 2, 4, 2)
        box.setSpacing(2)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.verdict_label, 1)
        top.addWidget(self.readout_label)
        box.addLayout(top)
        box.addWidget(self.strip, 1)
        strip_box.setMinimumHeight(130)
        self.strip_dock = w.add_dock("AI probability", strip_box, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)  # type: ignore[attr-defined]
        self.panel = FindingsPanel()
        self.panel.setMinimumWidth(340)
        self.panel.slice_activated.connect(self._on_panel_slice)
        self.panel_dock = w.add_dock("AI findings", self.panel, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)  # type: ignore[attr-defined]
        if getattr(w, "tag_dock", None) is not None:
            w.tabifyDockWidget(self.panel_dock, w.tag_dock)  # type: ignore[attr-defined]
            self.panel_dock.raise_()

        self.status_label = QtWidgets.QLabel("")
        self.status_label.setAccessibleName("AI status")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setFormat("AI %v / %m")
        self.progress.setVisible(False)
        self.second_progress = QtWidgets.QProgressBar()
        self.second_progress.setMinimumWidth(260)
        self.second_progress.setMaximumWidth(300)
        self.second_progress.setAccessibleName("Second reader progress")
        self.second_progress.setFormat("Lesion segmentation (BLAST-CT) %v/%m")
        self.second_progress.setVisible(False)
        w.statusBar().addPermanentWidget(self.status_label)
        w.statusBar().addPermanentWidget(self.progress)
        w.statusBar().addPermanentWidget(self.second_progress)
        self._show_idle("AI: no series analysed yet")

    def _build_actions(self, settings: Any) -> None:
        w = self.window
        self.run_action = QtGui.QAction("Run &AI", w)
        self.run_action.setToolTip("Run the hemorrhage AI on the shown series (research and triage aid, not a diagnosis)")
        self.run_action.setShortcut(QtGui.QKeySequence("Ctrl+R"))
        self.run_action.triggered.connect(self.run)
        self.heatmap_action = QtGui.QAction("&Heatmap", w)
        self.heatmap_action.setCheckable(True)
        self.heatmap_action.setChecked(settings.heatmap_visible)
        self.heatmap_action.setShortcut(QtGui.QKeySequence("H"))
        self.heatmap_action.setToolTip("Show where the model looked, on blood-density pixels (40-100 HU) inside the skull (H)")
        self.heatmap_action.toggled.connect(self.set_heatmap_visible)
        self.next_action = QtGui.QAction("&Next slice at or above threshold", w)
        self.next_action.setShortcut(QtGui.QKeySequence("N"))
        self.next_action.triggered.connect(self.next_above)
        self.prev_action = QtGui.QAction("&Previous slice at or above threshold", w)
        self.prev_action.setShortcut(QtGui.QKeySequence("Shift+N"))
        self.prev_action.triggered.connect(self.previous_above)
        self.export_action = QtGui.QAction("&Export findings…", w)
        self.export_action.setShortcut(QtGui.QKeySequence("Ctrl+E"))
        self.export_action.setToolTip("Write the AI findings as a PDF report and/or JSON")
        self.export_action.setEnabled(False)
        self.export_action.triggered.connect(self.export_findings)
        self.cancel_action = QtGui.QAction("&Stop AI", w)
        self.cancel_action.setToolTip("Stop both readers on the shown series")
        self.cancel_action.triggered.connect(self.cancel)
        self.lesion_action = QtGui.QAction("&Lesions (BLAST-CT)", w)
        self.lesion_action.setCheckable(True)
        self.lesion_action.setChecked(settings.lesion_visible)
        self.lesion_action.setShortcut(QtGui.QKeySequence("L"))
        self.lesion_action.setToolTip("Show the second reader's (BLAST-CT) lesion outlines: IPH, EAH, oedema, IVH (L)")
        self.lesion_action.toggled.connect(self.set_lesions_visible)

        for action in (self.run_action, self.cancel_action, self.heatmap_action, self.lesion_action, self.next_action, self.prev_action):
            w.add_action("&AI", action)  # type: ignore[attr-defined]
        self._move_menu_before("AI", "Help")
        ai_menu = self._menu("AI")
        if ai_menu is not None:
            colours = ai_menu.addMenu("Heatmap &colours")
            group = QtGui.QActionGroup(colours)
            self.colormap_actions: dict[str, QtGui.QAction] = {}
            for name in COLORMAPS:
                action = colours.addAction(COLORMAP_NAMES.get(name, name))
                action.setCheckable(True)
                action.setChecked(name == DEFAULT_COLORMAP)
                action.triggered.connect(lambda _=False, n=name: self.overlay.set_colormap(n))
                group.addAction(action)
                self.colormap_actions[name] = action
            styles = ai_menu.addMenu("Lesion &style")
            style_group = QtGui.QActionGroup(styles)
            self.lesion_style_actions: dict[str, QtGui.QAction] = {}
            for style, text in (("outline", "&Outlines"), ("fill", "&Filled")):
                action = styles.addAction(text)
                action.setCheckable(True)
                action.setChecked(style == settings.lesion_style)
                action.triggered.connect(lambda _=False, st=style: self.set_lesion_style(st))
                style_group.addAction(action)
                self.lesion_style_actions[style] = action
        file_menu = self._menu("File")
        if file_menu is not None:
            quit_action = getattr(w, "quit_action", None)
            anchor = _separator_before(file_menu, quit_action)
            file_menu.insertAction(anchor, self.export_action)
            w.addAction(self.export_action)
        else:
            w.add_action("File", self.export_action)  # type: ignore[attr-defined]

        tb = w.addToolBar("AI")
        tb.setObjectName("toolbar_ai")
        self.toolbar = tb
        tb.addAction(self.run_action)
        tb.addAction(self.heatmap_action)
        tb.addAction(self.lesion_action)
        self.label_combo = QtWidgets.QComboBox()
        self.label_combo.setAccessibleName("Label shown")
        self.label_combo.setToolTip("Which probability the strip and the heatmap show")
        self.label_combo.addItems([LABEL_NAMES[label] for label in LABELS])
        self.label_combo.setCurrentIndex(LABELS.index(self._label))
        self.label_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
        self.label_combo.currentIndexChanged.connect(lambda i: self.set_label(LABELS[i]))
        tb.addWidget(self.label_combo)
        tb.addWidget(QtWidgets.QLabel(" Opacity "))
        self.opacity_slider = _slider("Heatmap opacity", settings.heatmap_opacity)
        self.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100.0))
        tb.addWidget(self.opacity_slider)
        tb.addWidget(QtWidgets.QLabel(" Show above "))
        self.threshold_slider = _slider(
            "Heatmap display threshold (picture only; the verdict uses the model's operating threshold)",
            settings.heatmap_threshold,
        )
        self.threshold_slider.valueChanged.connect(lambda v: self.set_display_threshold(v / 100.0))
        tb.addWidget(self.threshold_slider)
        self.threshold_value = QtWidgets.QLabel(f"{settings.heatmap_threshold:.2f}")
        self.threshold_value.setMinimumWidth(30)
        tb.addWidget(self.threshold_value)
        tb.addWidget(QtWidgets.QLabel(" Lesions "))
        self.lesion_opacity_slider = _slider("Lesion outline opacity (BLAST-CT)", settings.lesion_opacity)
        self.lesion_opacity_slider.valueChanged.connect(lambda v: self.set_lesion_opacity(v / 100.0))
        tb.addWidget(self.lesion_opacity_slider)

    def _menu(self, name: str) -> QtWidgets.QMenu | None:
        for action in self.window.menuBar().actions():
            menu = action.menu()
            if menu is not None and action.text().replace("&", "") == name:
                return menu
        return None

    def _move_menu_before(self, name: str, before: str) -> None:
        bar = self.window.menuBar()
        moving = self._menu(name)
        anchor = self._menu(before)
        if moving is None or anchor is None:
            return
        bar.removeAction(moving.menuAction())
        bar.insertMenu(anchor.menuAction(), moving)


# ================================================================================= helpers
def _slider(tip: str, value: float) -> QtWidgets.QSlider:
    s = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
    s.setRange(0, 100)
    s.setValue(int(round(value * 100)))
    s.setMaximumWidth(110)
    s.setMinimumWidth(70)  # never squeezed to a few pixels (the toolbar overflows into its menu)
    s.setToolTip(tip)
    s.setAccessibleName(tip.split(" (")[0])
    s.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
    return s


def _separator_before(menu: QtWidgets.QMenu, action: QtGui.QAction | None) -> QtGui.QAction | None:
    """The separator just above `action` in `menu` (or `action` itself), to insert before it."""
    actions = menu.actions()
    if action is None or action not in actions:
        return None
    i = actions.index(action)
    return actions[i - 1] if i > 0 and actions[i - 1].isSeparator() else action

