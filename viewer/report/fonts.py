"""Fonts for the PDF report, and markup that puts each script in a font that has its glyphs.

- Latin, Greek and Cyrillic: DejaVu Sans (a Latin-Greek-Cyrillic subset shipped in resources/fonts,
  Bitstream Vera licence), embedded as a TrueType subset by reportlab.
- Chinese, Japanese and Korean: a CJK TrueType font found on the machine ($ICHVIEW_CJK_FONT, or
  Debian's Droid Sans Fallback / Nanum / UnFonts) when one has every character of the text, embedded as a subset so
  any reader shows it; otherwise reportlab's Adobe CID fonts (HeiseiKakuGo-W5, STSong-Light,
  MSung-Light, HYGothic-Medium), which are referenced, not embedded: the PDF reader supplies the
  glyphs (Acrobat, pdf.js, pdfium, poppler with poppler-data do), and text extraction works.
- Right-to-left scripts (Arabic, Hebrew) are not shaped: such characters are drawn unjoined.
"""
from __future__ import annotations

import functools
import os
import unicodedata
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

SANS = "IchviewSans"
SANS_BOLD = "IchviewSans-Bold"
MONO = "Courier"  # UIDs and hashes are ASCII
CJK_JAPANESE = "HeiseiKakuGo-W5"
CJK_CHINESE_SIMPLIFIED = "STSong-Light"
CJK_CHINESE_TRADITIONAL = "MSung-Light"
CJK_KOREAN = "HYGothic-Medium"
CJK_EMBEDDED = "IchviewCJK"
CJK_FONT_ENV = "ICHVIEW_CJK_FONT"
CJK_TTF_CANDIDATES = (  # TrueType outlines only (reportlab cannot embed CFF-based OpenType)
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),  # Debian fonts-droid-fallback
    Path("/usr/share/fonts/truetype/droid/DroidSansFallback.ttf"),
    Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"),  # Debian fonts-nanum (Hangul)
    Path("/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf"),  # Debian fonts-unfonts-core (Hangul)
)

FONTS_DIR = Path(__file__).resolve().parents[2] / "resources" / "fonts"
_CANDIDATES = (
    (FONTS_DIR / "DejaVuSans-LGC.ttf", FONTS_DIR / "DejaVuSans-Bold-LGC.ttf"),
    (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")),
)


@functools.lru_cache(maxsize=1)
def register_fonts() -> tuple[str, str]:
    """Register the report fonts once; returns (regular, bold) font names.

    Raises FileNotFoundError naming resources/fonts when no Unicode TrueType font is found.
    """
    for regular, bold in _CANDIDATES:
        if regular.is_file() and bold.is_file():
            pdfmetrics.registerFont(TTFont(SANS, str(regular)))
            pdfmetrics.registerFont(TTFont(SANS_BOLD, str(bold)))
            addMapping(SANS, 0, 0, SANS)
            addMapping(SANS, 1, 0, SANS_BOLD)
            addMapping(SANS, 0, 1, SANS)
            addMapping(SANS, 1, 1, SANS_BOLD)
            for cid in (CJK_JAPANESE, CJK_CHINESE_SIMPLIFIED, CJK_CHINESE_TRADITIONAL, CJK_KOREAN):
                pdfmetrics.registerFont(UnicodeCIDFont(cid))
            return SANS, SANS_BOLD
    raise FileNotFoundError(
        f"{FONTS_DIR / 'DejaVuSans-LGC.ttf'}: report font missing (reinstall ichview with its resources)"
    )


@functools.lru_cache(maxsize=1)
def embedded_cjk_fonts() -> tuple[tuple[str, frozenset[int]], ...]:
    """(registered font name, code points) of each CJK TrueType font found, in preference order.

    $ICHVIEW_CJK_FONT names a TrueType file to prefer; "none" turns embedding off (CID fonts only).
    Candidates that are missing or unreadable are passed over (the CID fonts remain).
    """
    env = os.environ.get(CJK_FONT_ENV, "")
    if env.strip().lower() == "none":
        return ()
    found: list[tuple[str, frozenset[int]]] = []
    for path in ([Path(env)] if env else []) + list(CJK_TTF_CANDIDATES):
        if not path.is_file():
            continue
        name = f"{CJK_EMBEDDED}{len(found) + 1}"
        try:
            font = TTFont(name, str(path))
        except Exception:  # noqa: BLE001 - an unusable system font just means the CID fallback
            continue
        pdfmetrics.registerFont(font)
        found.append((name, frozenset(font.face.charToGlyph)))
    return tuple(found)


def _is_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F


def _is_kana(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF65 <= o <= 0xFF9F


def is_cjk(ch: str) -> bool:
    """True for characters DejaVu lacks and a CJK CID font has (Han, kana, Hangul, CJK punctuation)."""
    o = ord(ch)
    return (
        _is_hangul(ch)
        or _is_kana(ch)
        or 0x2E80 <= o <= 0x2FDF  # radicals
        or 0x3000 <= o <= 0x303F  # CJK symbols and punctuation
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0xFF00 <= o <= 0xFF64  # full-width forms
        or 0x20000 <= o <= 0x2FFFF
    )


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def cjk_font_for(text: str, *, allow_embedded: bool = True) -> str:
    """The font for the CJK characters of `text`: the embedded TrueType when it has them all, else
    the CID font whose character collection fits best."""
    cjk = "".join(ch for ch in text if is_cjk(ch))
    if allow_embedded:
        for name, charset in embedded_cjk_fonts():
            if all(ord(ch) in charset for ch in cjk):
                return name
    if any(_is_kana(ch) for ch in cjk):
        return CJK_JAPANESE
    if any(_is_hangul(ch) for ch in cjk):
        return CJK_KOREAN
    if _encodes(cjk, "cp932"):
        return CJK_JAPANESE
    if _encodes(cjk, "gb2312"):
        return CJK_CHINESE_SIMPLIFIED
    if _encodes(cjk, "big5"):
        return CJK_CHINESE_TRADITIONAL
    return CJK_CHINESE_SIMPLIFIED


MAX_FIELD_CHARS = 400  # longer header values (a 2,000-character name, a 64 KB description) are cut
_CONTROL = {c: None for c in range(32) if c not in (9, 10)} | {127: None}


def clip_text(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """`text` without control characters, cut to `limit` characters with a visible mark."""
    text = str(text).translate(_CONTROL)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\u2026 [{len(text) - limit} more characters not shown]"


def markup(text: str, *, allow_embedded: bool = True) -> str:
    """Escape `text` for a reportlab Paragraph and wrap CJK runs in a CJK font tag (control
    characters removed, cut at MAX_FIELD_CHARS with a mark)."""
    text = unicodedata.normalize("NFC", clip_text(text))
    if not any(is_cjk(ch) for ch in text):
        return escape(text)
    font = cjk_font_for(text, allow_embedded=allow_embedded)
    out: list[str] = []
    run: list[str] = []
    run_cjk = False
    for ch in text + "\0":
        # Spaces stay in the current run: CID fonts have them, and fewer font switches keep
        # names like "김 민준" one text run (pdfium drops a lone Hangul run when extracting text).
        cjk = run_cjk if (ch.isspace() and run) else is_cjk(ch)
        if ch == "\0" or (run and cjk != run_cjk):
            chunk = escape("".join(run))
            out.append(f'<font name="{font}">{chunk}</font>' if run_cjk else chunk)
            run = []
        if ch != "\0":
            run.append(ch)
            run_cjk = cjk
    return "".join(out)


def person_name(pn: str) -> str:
    """A DICOM PN for people: 'FAMILY^Given^Middle' -> 'FAMILY, Given Middle'; CJK groups 'Family Given'.

    Component groups (alphabetic = ideographic = phonetic) are joined with ' = '.
    """
    groups = []
    for group in pn.split("="):
        parts = [p.strip() for p in group.split("^")]
        while parts and not parts[-1]:
            parts.pop()
        if not parts:
            continue
        family, rest = parts[0], [p for p in parts[1:] if p]
        if any(is_cjk(ch) for ch in group):
            groups.append(" ".join([family, *rest]).strip())
        elif rest:
            groups.append(f"{family}, {' '.join(rest)}" if family else " ".join(rest))
        else:
            groups.append(family)
    return " = ".join(groups)
