"""The user's preferences: one frozen dataclass, Qt-free (persisted by viewer/qt/settings_store.py)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

# Mouse actions a button can be mapped to.
WINDOW = "window"  # drag: horizontal = width, vertical = level
PAN = "pan"
ZOOM = "zoom"  # drag up = zoom in
NONE = "none"
MOUSE_ACTIONS: tuple[str, ...] = (WINDOW, PAN, ZOOM, NONE)
MOUSE_ACTION_NAMES: dict[str, str] = {
    WINDOW: "Window / level",
    PAN: "Pan",
    ZOOM: "Zoom",
    NONE: "Nothing",
}
HEATMAP_LABELS: tuple[str, ...] = (
    "any",
    "epidural",
    "intraparenchymal",
    "intraventricular",
    "subarachnoid",
    "subdural",
)
LESION_STYLES: tuple[str, ...] = ("outline", "fill")  # how the second reader's lesions are drawn
MAX_RECENT = 10


@dataclass(frozen=True)
class MouseMapping:
    """What each mouse button's drag does on the image (RadiAnt-like defaults)."""

    left: str = WINDOW
    middle: str = PAN
    right: str = ZOOM

    def action_for(self, button: str) -> str:
        """The action of "left", "middle" or "right"."""
        return {"left": self.left, "middle": self.middle, "right": self.right}[button]


@dataclass(frozen=True)
class Settings:
    """Every preference of the viewer. Replace fields with `with_changes`."""

    remember_recent: bool = True
    recent_paths: tuple[str, ...] = ()  # newest first; paths may hold patient names: never log them
    mouse: MouseMapping = field(default_factory=MouseMapping)
    wl_sensitivity_hu_per_px: float = 2.0  # window drag: HU per screen pixel moved
    cine_fps: float = 10.0
    auto_run_ai: bool = True
    heatmap_visible: bool = True
    heatmap_opacity: float = 0.45
    heatmap_threshold: float = 0.3  # display threshold only; the verdict uses the model's own
    heatmap_label: str = "any"
    show_corner_text: bool = True
    # The second reader (BLAST-CT lesion segmentation) after the first; its device and threads
    # follow the first reader's.
    second_reader: bool = True
    lesion_visible: bool = True
    lesion_opacity: float = 0.9
    lesion_style: str = "outline"

    def with_changes(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def with_recent(self, path: str) -> Settings:
        """`path` moved to the top of the recent list (unchanged when remembering is off)."""
        if not self.remember_recent:
            return self
        rest = tuple(p for p in self.recent_paths if p != path)
        return replace(self, recent_paths=((path,) + rest)[:MAX_RECENT])

    def cleared_recent(self) -> Settings:
        """A copy with an empty recent list."""
        return replace(self, recent_paths=())

    def validated(self) -> Settings:
        """Out-of-range values brought back into range (settings files get edited by hand)."""
        def action(a: str, default: str) -> str:
            return a if a in MOUSE_ACTIONS else default

        mouse = MouseMapping(
            left=action(self.mouse.left, WINDOW),
            middle=action(self.mouse.middle, PAN),
            right=action(self.mouse.right, ZOOM),
        )
        return replace(
            self,
            mouse=mouse,
            cine_fps=min(max(float(self.cine_fps), 1.0), 60.0),
            wl_sensitivity_hu_per_px=min(max(float(self.wl_sensitivity_hu_per_px), 0.1), 50.0),
            heatmap_opacity=min(max(float(self.heatmap_opacity), 0.0), 1.0),
            heatmap_threshold=min(max(float(self.heatmap_threshold), 0.0), 1.0),
            heatmap_label=self.heatmap_label if self.heatmap_label in HEATMAP_LABELS else "any",
            lesion_opacity=min(max(float(self.lesion_opacity), 0.0), 1.0),
            lesion_style=self.lesion_style if self.lesion_style in LESION_STYLES else "outline",
            recent_paths=tuple(self.recent_paths)[:MAX_RECENT] if self.remember_recent else (),
        )
