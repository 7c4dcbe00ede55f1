"""The window's layout at a laptop's 1366 x 768, the default size and 1920 x 1080, as the app builds
it (AI attached): the image gets most of the window, sliders keep a usable width, the series list's
and the tag browser's columns are visible without sideways scrolling. Screenshots are saved under
test-artifacts/ for a person to look at."""
from __future__ import annotations

import pytest
from PySide6 import QtCore, QtWidgets
from window_driver import open_and_wait


@pytest.fixture
def app_window(qtbot, request):  # noqa: ANN001, ANN201
    """The main window with the AI attached (not run), at the size given by the test's parameter."""
    from viewer.qt.ai_assist import AiAssist
    from viewer.qt.app import configure_pyqtgraph
    from viewer.qt.main_window import MainWindow
    from viewer.settings import Settings

    configure_pyqtgraph()
    window = MainWindow(Settings(auto_run_ai=False, remember_recent=False))
    ai = AiAssist(window, warm_up=False)
    qtbot.addWidget(window)
    window.resize(*request.param)
    window.show()
    qtbot.waitExposed(window)
    yield window
    assert ai.shutdown(10.0)
    assert window.shutdown_jobs(10.0)
    window.close()


def _check_layout(window, size: tuple[int, int]) -> None:  # noqa: ANN001
    area = size[0] * size[1]
    image = window.slice_view.graphics.size()
    share = 0.5 if size[0] < 1600 else 0.45  # wide screens keep the findings beside the series list
    assert image.width() * image.height() >= share * area, (size, image)
    # Sliders visible in a toolbar keep a usable width (the rest overflow into the toolbar's menu).
    for slider in window.findChildren(QtWidgets.QSlider):
        if slider.isVisible() and slider.orientation() == QtCore.Qt.Orientation.Horizontal:
            assert slider.width() >= 60, (slider.accessibleName(), slider.width())
    assert window.slider.height() >= 0.5 * image.height()
    # The series list: every column inside the viewport, the description wider than the thumbnail.
    tree = window.series_browser.tree
    window.series_dock.raise_()
    QtWidgets.QApplication.processEvents()
    header = tree.header()
    assert header.length() <= tree.viewport().width() + 1, (header.length(), tree.viewport().width())
    assert header.sectionSize(0) >= 64 + 40


@pytest.mark.parametrize("app_window", [(1366, 768), (1400, 900), (1920, 1080)], indirect=True)
def test_layout_gives_the_image_most_of_the_window(qtbot, app_window, real_data, artifacts_dir) -> None:  # noqa: ANN001
    window = app_window
    size = (window.width(), window.height())
    open_and_wait(qtbot, window, [real_data / "ge_head_ct_tilted"])
    QtWidgets.QApplication.processEvents()
    _check_layout(window, size)
    window.slice_view.render_now()
    window.grab().save(str(artifacts_dir / f"layout_{size[0]}x{size[1]}.png"))

    # Ctrl+T: the tag browser in front, its value column in view.
    qtbot.keyClick(window.slice_view.graphics, QtCore.Qt.Key.Key_T, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.tag_browser.tree.topLevelItemCount() > 0)
    qtbot.wait(20)
    assert window.tags_in_front()  # in front of the AI findings it shares a tab with
    tags = window.tag_browser.tree
    qtbot.waitUntil(lambda: tags.header().sectionViewportPosition(3) + 80 <= tags.viewport().width(), timeout=2000)
    window.grab().save(str(artifacts_dir / f"layout_{size[0]}x{size[1]}_tags.png"))
    # Behind another tab, Ctrl+T brings it to the front again; in front, it hides it.
    window.ai_findings_dock_for_test = [d for d in window.tag_dock.parent().findChildren(QtWidgets.QDockWidget)
                                        if d.windowTitle() == "AI findings"][0]
    window.ai_findings_dock_for_test.raise_()
    qtbot.wait(20)
    if window.tabifiedDockWidgets(window.tag_dock):
        assert not window.tags_in_front()
        qtbot.keyClick(window.slice_view.graphics, QtCore.Qt.Key.Key_T, QtCore.Qt.KeyboardModifier.ControlModifier)
        qtbot.wait(20)
        assert window.tags_in_front()
    qtbot.keyClick(window.slice_view.graphics, QtCore.Qt.Key.Key_T, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(20)
    assert not window.tag_dock.isVisible()
    # The 1 + 2 layout keeps every view usable.
    window.mpr.set_layout("1+2")
    QtWidgets.QApplication.processEvents()
    for view in (window.slice_view, window.mpr.coronal, window.mpr.sagittal):
        assert view.graphics.width() >= 200 and view.graphics.height() >= 200
    window.grab().save(str(artifacts_dir / f"layout_{size[0]}x{size[1]}_mpr.png"))
