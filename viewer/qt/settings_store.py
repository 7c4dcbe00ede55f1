"""Load and save `viewer.settings.Settings` with QSettings (the only place that touches QSettings)."""
from __future__ import annotations

from PySide6 import QtCore

from viewer.settings import MouseMapping, Settings

ORGANIZATION = "ichview"
APPLICATION = "ichview"


def _qsettings() -> QtCore.QSettings:
    return QtCore.QSettings(
        QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
    )


def _bool(value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _float(value: object, default: float) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _str_list(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(str(v) for v in value if str(v))  # type: ignore[union-attr]


def load_settings() -> Settings:
    """The stored settings (defaults for anything missing or malformed)."""
    q = _qsettings()
    d = Settings()
    settings = Settings(
        remember_recent=_bool(q.value("recent/remember"), d.remember_recent),
        recent_paths=_str_list(q.value("recent/paths")),
        mouse=MouseMapping(
            left=str(q.value("mouse/left", d.mouse.left)),
            middle=str(q.value("mouse/middle", d.mouse.middle)),
            right=str(q.value("mouse/right", d.mouse.right)),
        ),
        wl_sensitivity_hu_per_px=_float(q.value("mouse/wl_sensitivity_hu_per_px"), d.wl_sensitivity_hu_per_px),
        cine_fps=_float(q.value("view/cine_fps"), d.cine_fps),
        auto_run_ai=_bool(q.value("ai/auto_run"), d.auto_run_ai),
        heatmap_visible=_bool(q.value("heatmap/visible"), d.heatmap_visible),
        heatmap_opacity=_float(q.value("heatmap/opacity"), d.heatmap_opacity),
        heatmap_threshold=_float(q.value("heatmap/threshold"), d.heatmap_threshold),
        heatmap_label=str(q.value("heatmap/label", d.heatmap_label)),
        show_corner_text=_bool(q.value("view/corner_text"), d.show_corner_text),
        second_reader=_bool(q.value("ai/second_reader"), d.second_reader),
        lesion_visible=_bool(q.value("lesions/visible"), d.lesion_visible),
        lesion_opacity=_float(q.value("lesions/opacity"), d.lesion_opacity),
        lesion_style=str(q.value("lesions/style", d.lesion_style)),
    )
    return settings.validated()


def save_settings(settings: Settings) -> None:
    """Store the settings (the recent list is stored empty when remembering is off)."""
    s = settings.validated()
    q = _qsettings()
    q.setValue("recent/remember", s.remember_recent)
    q.setValue("recent/paths", list(s.recent_paths) if s.remember_recent else [])
    q.setValue("mouse/left", s.mouse.left)
    q.setValue("mouse/middle", s.mouse.middle)
    q.setValue("mouse/right", s.mouse.right)
    q.setValue("mouse/wl_sensitivity_hu_per_px", s.wl_sensitivity_hu_per_px)
    q.setValue("view/cine_fps", s.cine_fps)
    q.setValue("ai/auto_run", s.auto_run_ai)
    q.setValue("heatmap/visible", s.heatmap_visible)
    q.setValue("heatmap/opacity", s.heatmap_opacity)
    q.setValue("heatmap/threshold", s.heatmap_threshold)
    q.setValue("heatmap/label", s.heatmap_label)
    q.setValue("view/corner_text", s.show_corner_text)
    q.setValue("ai/second_reader", s.second_reader)
    q.setValue("lesions/visible", s.lesion_visible)
    q.setValue("lesions/opacity", s.lesion_opacity)
    q.setValue("lesions/style", s.lesion_style)
    q.sync()


def settings_file_path() -> str:
    """Where the settings are stored (for Help > About)."""
    return _qsettings().fileName()
