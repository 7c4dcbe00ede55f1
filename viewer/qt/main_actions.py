"""The main window's actions, menus and toolbar: every keyboard shortcut of the viewer (with the
view-only keys that work while the image has the focus), the File / Edit / View / Window / Tools /
Help menus, the recent-files menu and the main toolbar (window preset, cine speed).
`MainActionsMixin` is mixed into `MainWindow`, which owns the slots the actions call."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from viewer.core.windowing import PRESETS
from viewer.qt.mpr_view import LAYOUT_NAMES, LAYOUTS, layout_combo
from viewer.settings import Settings

HEADER_ITEM = "Header"
CUSTOM_ITEM = "Custom"


class MainActionsMixin:
    """Builds the actions, menus and toolbar of `MainWindow` (its methods, split out by job)."""

    settings: Settings
    slice_view: Any  # SliceView
    series_browser: Any  # SeriesBrowser
    measurements: Any  # Measurements
    tag_dock: QtWidgets.QDockWidget | None
    mpr: Any  # MprController
    _docks_menu_actions: list[QtGui.QAction]

    def _act(
        self,
        text: str,
        slot: object,
        shortcuts: Sequence[str | QtGui.QKeySequence | QtCore.Qt.Key] = (),
        *,
        checkable: bool = False,
        view_only: bool = False,
        tip: str = "",
        icon: QtWidgets.QStyle.StandardPixmap | None = None,
    ) -> QtGui.QAction:
        """An action; `view_only` ones (arrows, Home/End) work while the image has the focus."""
        action = QtGui.QAction(text, self)
        if shortcuts:
            sequences: list[QtGui.QKeySequence] = []
            for item in shortcuts:
                if isinstance(item, QtGui.QKeySequence.StandardKey):
                    candidates = QtGui.QKeySequence.keyBindings(item)
                else:
                    candidates = [QtGui.QKeySequence(item)]
                for seq in candidates:
                    if not seq.isEmpty() and seq not in sequences:  # a repeated key would be ambiguous
                        sequences.append(seq)
            action.setShortcuts(sequences)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.triggered.connect(slot)  # type: ignore[arg-type]
        if view_only:
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.slice_view.addAction(action)
        else:
            self.addAction(action)
        self._all_actions.append(action)
        return action

    def _build_actions(self) -> None:
        self._all_actions: list[QtGui.QAction] = []
        K = QtCore.Qt.Key
        M = QtCore.Qt.KeyboardModifier
        sv = self.slice_view
        SP = QtWidgets.QStyle.StandardPixmap
        self.open_folder_action = self._act("Open &folder…", self.open_folder_dialog, ["Ctrl+O"], icon=SP.SP_DirOpenIcon)
        self.open_files_action = self._act("Open f&iles…", self.open_files_dialog, ["Ctrl+Shift+O"], icon=SP.SP_FileIcon)
        self.open_worklist_action = self._act(
            "Open &worklist…", self.open_worklist_dialog, ["Ctrl+Shift+W"],
            tip="Open the worklist an 'ichview triage' run wrote (its output folder)",
        )
        self.open_pacs_action = self._act(
            "Open from &PACS…", self.open_from_pacs_dialog, ["Ctrl+Shift+P"],
            tip="Search a PACS node, retrieve a study into the PACS cache and open it",
        )
        self.send_findings_action = self._act(
            "Send findings to &PACS…", self.send_findings_to_pacs,
            tip="Store the AI findings of the study on screen on a PACS node (DICOM SR and key images)",
        )
        self.skipped_action = self._act("Show &skipped files…", self.show_skipped)
        self.warnings_action = self._act("Show series &warnings…", self.show_warnings)
        self.export_view_action = self._act(
            "Export the &view as PNG…", self.export_view_dialog, ["Ctrl+Shift+S"],
            tip="Save the image views as shown (corner text with patient data off by default)",
        )
        self.copy_view_action = self._act(
            "&Copy the view", self.copy_view, ["Ctrl+Shift+C"],
            tip="Copy the image views to the clipboard as shown, without the corner text (patient data)",
        )
        self.reload_action = self._act("Re&load series", self.reload_series, [QtGui.QKeySequence.StandardKey.Refresh, "F5"])
        self.prefs_action = self._act("&Preferences…", self.show_preferences, [QtGui.QKeySequence.StandardKey.Preferences, "Ctrl+,"])
        self.quit_action = self._act("&Quit", self.close, ["Ctrl+Q"])
        self.next_action = self._act("Next slice", lambda: sv.step(1), [K.Key_Down], view_only=True)
        self.prev_action = self._act("Previous slice", lambda: sv.step(-1), [K.Key_Up], view_only=True)
        self.next10_action = self._act("10 slices forward", lambda: sv.step(10), [QtGui.QKeySequence(M.ShiftModifier | K.Key_Down)], view_only=True)
        self.prev10_action = self._act("10 slices back", lambda: sv.step(-10), [QtGui.QKeySequence(M.ShiftModifier | K.Key_Up)], view_only=True)
        self.first_action = self._act("First slice", lambda: sv.set_index(0), [K.Key_Home], view_only=True)
        self.last_action = self._act("Last slice", self._go_last, [K.Key_End], view_only=True)
        self.next_series_action = self._act("Next series", self.series_browser.select_next, [K.Key_PageDown])
        self.prev_series_action = self._act("Previous series", self.series_browser.select_previous, [K.Key_PageUp])
        self.cine_action = self._act("Play / pause cine", self.toggle_cine, [K.Key_Space], checkable=True, icon=SP.SP_MediaPlay)
        self.faster_action = self._act("Cine faster", lambda: self.fps_spin.stepUp(), ["]"])
        self.slower_action = self._act("Cine slower", lambda: self.fps_spin.stepDown(), ["["])
        self.fit_action = self._act("&Fit to window", sv.fit, ["F"])
        self.reset_action = self._act("&Reset view and window", self.reset_view, ["R"])
        self.zoom_in_action = self._act("Zoom in", lambda: sv.zoom_by(1.25), [QtGui.QKeySequence.StandardKey.ZoomIn, "Ctrl+="])
        self.zoom_out_action = self._act("Zoom out", lambda: sv.zoom_by(0.8), [QtGui.QKeySequence.StandardKey.ZoomOut])
        self.pan_actions = [
            self._act(f"Pan {name}", lambda _=False, d=d: sv.pan_by_mm(*d), [QtGui.QKeySequence(M.ControlModifier | key)], view_only=True)
            for name, key, d in (
                ("left", K.Key_Left, (-10.0, 0.0)),
                ("right", K.Key_Right, (10.0, 0.0)),
                ("up", K.Key_Up, (0.0, -10.0)),
                ("down", K.Key_Down, (0.0, 10.0)),
            )
        ]
        self.corner_text_action = self._act("Corner &text", self._toggle_corner_text, ["T"], checkable=True)
        self.preset_actions = [
            self._act(f"{p.name} window (W {p.width_hu:g} / L {p.center_hu:g})", lambda _=False, n=n: self.apply_preset(n), [str(n)])
            for n, p in enumerate(PRESETS, start=1)
        ]
        self.header_window_action = self._act("Header window", self.apply_header_window, ["0"])
        self.invert_action = self._act("&Invert", lambda: sv.set_inverted(not sv.inverted), ["I"], checkable=True)
        wl = [
            ("Window wider", lambda: sv.set_window(sv.window[0] + 20, sv.window[1]), "Alt+Right"),
            ("Window narrower", lambda: sv.set_window(sv.window[0] - 20, sv.window[1]), "Alt+Left"),
            ("Level up", lambda: sv.set_window(sv.window[0], sv.window[1] + 10), "Alt+Up"),
            ("Level down", lambda: sv.set_window(sv.window[0], sv.window[1] - 10), "Alt+Down"),
        ]
        self.wl_actions = [self._act(t, f, [k]) for t, f, k in wl]
        self.ruler_action = self._act("Distance &ruler", lambda: self.measurements.start_ruler(), ["M"])
        self.ellipse_action = self._act("&Ellipse ROI", lambda: self.measurements.start_ellipse(), ["E"])
        self.delete_measurement_action = self._act("Delete selected measurement\tDel", lambda: self.measurements.delete_selected())
        self.clear_measurements_action = self._act("Clear all measurements", lambda: self.measurements.clear())
        # Esc itself is the Measurements widget's own shortcut (a second one would be ambiguous).
        self.cancel_tool_action = self._act("Disarm the measurement tool\tEsc", lambda: self.measurements.cancel_tool())
        self.layout_actions = [
            self._act(f"Layout: {LAYOUT_NAMES[key]}", lambda _=False, k=key: self.mpr.set_layout(k), [f"Alt+{n}"], checkable=True)
            for n, key in enumerate(LAYOUTS, start=1)
        ]
        layout_group = QtGui.QActionGroup(self)
        for action, key in zip(self.layout_actions, LAYOUTS):
            layout_group.addAction(action)
            action.setChecked(key == self.mpr.layout)
        self.mpr.layout_changed.connect(
            lambda layout: [a.setChecked(k == layout) for a, k in zip(self.layout_actions, LAYOUTS)]
        )
        self.focus_image_action = self._act("Focus the image", lambda: sv.setFocus(), ["Ctrl+1"])
        self.focus_series_action = self._act("Focus the series list", self._focus_series, ["Ctrl+2"])
        self.shortcuts_action = self._act("&Keyboard and mouse shortcuts", self.show_shortcuts, ["F1"])
        self.about_action = self._act("&About ichview", self.show_about)

    def open_from_pacs_dialog(self) -> Any:
        """File > Open from PACS…: search, retrieve into the cache, open (viewer.qt.pacs_browser)."""
        from viewer.qt.pacs_browser import open_from_pacs

        return open_from_pacs(self)

    def send_findings_to_pacs(self) -> Any:
        """AI > Send findings to PACS…: the SR and key images of the study on screen (viewer.qt.pacs_send)."""
        from viewer.qt.pacs_send import send_findings

        return send_findings(self)

    @staticmethod
    def _keep_last(menu: QtWidgets.QMenu, action: QtGui.QAction) -> None:
        """Move `action` (after a separator) to the end of `menu` when others were added after it."""
        actions = menu.actions()
        if actions and actions[-1] is action:
            return
        i = actions.index(action)
        if i > 0 and actions[i - 1].isSeparator():
            menu.removeAction(actions[i - 1])
        menu.removeAction(action)
        menu.addSeparator()
        menu.addAction(action)

    def _go_last(self) -> None:
        v = self.slice_view.volume
        if v is not None:
            self.slice_view.set_index(v.n_slices - 1)

    def _focus_series(self) -> None:
        self.series_dock.show()
        self.series_browser.setFocus()

    def _toggle_corner_text(self) -> None:
        visible = not self.slice_view.corner_text_visible
        self.slice_view.set_corner_text_visible(visible)
        self.mpr.set_corner_text_visible(visible)
        self.corner_text_action.setChecked(visible)
        self.settings = self.settings.with_changes(show_corner_text=visible)

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        self._menus: dict[str, QtWidgets.QMenu] = {}
        file_menu = bar.addMenu("&File")
        self._menus["File"] = file_menu
        file_menu.addActions([self.open_folder_action, self.open_files_action, self.open_worklist_action,
                              self.open_pacs_action])
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction(self.skipped_action)
        file_menu.addAction(self.warnings_action)
        file_menu.addAction(self.reload_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_view_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        self._menus["Edit"] = edit_menu
        edit_menu.addAction(self.copy_view_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.prefs_action)
        view_menu = bar.addMenu("&View")
        self._menus["View"] = view_menu
        view_menu.addActions([self.next_action, self.prev_action, self.next10_action, self.prev10_action,
                              self.first_action, self.last_action])
        view_menu.addSeparator()
        view_menu.addActions([self.next_series_action, self.prev_series_action])
        view_menu.addSeparator()
        view_menu.addActions([self.cine_action, self.faster_action, self.slower_action])
        view_menu.addSeparator()
        view_menu.addActions([self.fit_action, self.reset_action, self.zoom_in_action, self.zoom_out_action])
        view_menu.addActions(self.pan_actions)
        view_menu.addSeparator()
        view_menu.addActions(self.layout_actions)
        view_menu.addSeparator()
        view_menu.addAction(self.corner_text_action)
        view_menu.addActions([self.focus_image_action, self.focus_series_action])
        self.panels_menu = view_menu.addMenu("&Panels")
        self.panels_menu.addActions(self._docks_menu_actions)
        window_menu = bar.addMenu("&Window")
        self._menus["Window"] = window_menu
        window_menu.addActions(self.preset_actions)
        window_menu.addAction(self.header_window_action)
        window_menu.addAction(self.invert_action)
        window_menu.addSeparator()
        window_menu.addActions(self.wl_actions)
        tools_menu = bar.addMenu("&Tools")
        self._menus["Tools"] = tools_menu
        tools_menu.addActions([self.ruler_action, self.ellipse_action, self.cancel_tool_action,
                               self.delete_measurement_action, self.clear_measurements_action])
        if self.tag_dock is not None:
            tools_menu.addSeparator()
            tools_menu.addAction(self.tags_action)
            self.addAction(self.tags_action)
            self._all_actions.append(self.tags_action)
        # The AI menu (the AI assist adds its entries to it); Send findings to PACS stays its last entry.
        ai_menu = bar.addMenu("&AI")
        self._menus["&AI"] = ai_menu
        ai_menu.addSeparator()
        ai_menu.addAction(self.send_findings_action)
        ai_menu.aboutToShow.connect(lambda m=ai_menu: self._keep_last(m, self.send_findings_action))
        help_menu = bar.addMenu("&Help")
        self._menus["Help"] = help_menu
        help_menu.addActions([self.shortcuts_action, self.about_action])

        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        self.toolbar = tb
        tb.addAction(self.open_folder_action)
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" Window "))
        self.preset_combo = QtWidgets.QComboBox(self)
        self.preset_combo.setAccessibleName("Window preset")
        for n, p in enumerate(PRESETS, start=1):
            self.preset_combo.addItem(p.name)
            self.preset_combo.setItemData(n - 1, f"Key {n}: W {p.width_hu:g} / L {p.center_hu:g}", QtCore.Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.addItem(HEADER_ITEM)
        self.preset_combo.addItem(CUSTOM_ITEM)
        self.preset_combo.activated.connect(self._on_preset_combo)
        self.preset_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
        tb.addWidget(self.preset_combo)
        tb.addAction(self.invert_action)
        tb.addSeparator()
        tb.addAction(self.fit_action)
        tb.addAction(self.reset_action)
        tb.addAction(self.corner_text_action)
        self.layout_combo = layout_combo(self.mpr)
        tb.addWidget(self.layout_combo)
        tb.addSeparator()
        tb.addAction(self.cine_action)
        self.fps_spin = QtWidgets.QDoubleSpinBox(self)
        self.fps_spin.setRange(1.0, 60.0)
        self.fps_spin.setSingleStep(1.0)
        self.fps_spin.setDecimals(0)
        self.fps_spin.setSuffix(" fps")
        self.fps_spin.setAccessibleName("Cine frames per second")
        self.fps_spin.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
        self.fps_spin.valueChanged.connect(self._on_fps_changed)
        tb.addWidget(self.fps_spin)
        tb.addSeparator()
        tb.addAction(self.ruler_action)
        tb.addAction(self.ellipse_action)

    def _rebuild_recent_menu(self) -> None:
        if not hasattr(self, "recent_menu"):
            return
        menu = self.recent_menu
        menu.clear()
        for n, path in enumerate(self.settings.recent_paths, start=1):
            action = menu.addAction(f"&{n % 10} {path}" if n <= 10 else path)
            action.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        if not self.settings.recent_paths:
            empty = menu.addAction("(none)" if self.settings.remember_recent else "(not remembered — see Preferences)")
            empty.setEnabled(False)
        menu.addSeparator()
        clear = menu.addAction("Clear the list")
        clear.triggered.connect(self.clear_recent)
        clear.setEnabled(bool(self.settings.recent_paths))

    def shortcut_actions(self) -> list[QtGui.QAction]:
        """Every action with a key, this window's and those others added (e.g. the AI's menu)."""
        found: list[QtGui.QAction] = list(self._all_actions)

        def walk(menu: QtWidgets.QMenu) -> None:
            for action in menu.actions():
                if action.menu() is not None:
                    walk(action.menu())
                elif action not in found:
                    found.append(action)

        for top in self.menuBar().actions():
            if top.menu() is not None:
                walk(top.menu())
        return found
