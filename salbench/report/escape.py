"""Names as literal text in Markdown, LaTeX (pdflatex), matplotlib titles and
file names."""

from __future__ import annotations

import re
import unicodedata

_MD_SPECIAL = "\\`*_[]<>|$#"


def md_escape(s: str) -> str:
    """A name as literal Markdown text (also inside a pipe-table cell)."""
    out = []
    for ch in str(s):
        if ch in _MD_SPECIAL:
            out.append("\\" + ch)
        elif ch == "&":
            out.append("&amp;")
        else:
            out.append(ch)
    return "".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
        "–": "--", "—": "---", "×": r"$\times$", "†": r"$^\dagger$", "±": r"$\pm$", "≈": r"$\approx$",
        "²": r"$^2$", "¹": r"$^1$", "³": r"$^3$", "Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$",
        "·": r"$\cdot$", "“": "``", "”": "''", "’": "'", "‘": "`", "°": r"$^\circ$", "ß": r"{\ss}",
        "æ": r"{\ae}", "Æ": r"{\AE}", "ø": r"{\o}", "Ø": r"{\O}", "å": r"{\aa}", "Å": r"{\AA}",
        "ł": r"{\l}", "Ł": r"{\L}", "œ": r"{\oe}", "Œ": r"{\OE}", "ı": r"{\i}"}
_TEX_ACCENT = {"\u0301": "'", "\u0300": "`", "\u0302": "^", "\u0308": '"', "\u0303": "~", "\u0327": "c",
               "\u030c": "v", "\u0306": "u", "\u0304": "=", "\u030a": "r", "\u0307": ".", "\u030b": "H",
               "\u0328": "k"}


def _greek(ch: str) -> str | None:
    """A Greek letter as a LaTeX command (None for any other character)."""
    name = unicodedata.name(ch, "")
    if not name.startswith("GREEK ") or " LETTER " not in name:
        return None
    word = name.rsplit(" ", 1)[-1].lower()
    word = {"lamda": "lambda", "final": "varsigma"}.get(word, word)
    if "CAPITAL" in name:
        if word in ("gamma", "delta", "theta", "lambda", "xi", "pi", "sigma", "upsilon", "phi", "psi", "omega"):
            return "$\\" + word.capitalize() + "$"
        return {"alpha": "A", "beta": "B", "epsilon": "E", "zeta": "Z", "eta": "H", "iota": "I",
                "kappa": "K", "mu": "M", "nu": "N", "omicron": "O", "rho": "P", "tau": "T",
                "chi": "X"}.get(word)
    if word == "omicron":
        return "o"
    return "$\\" + word + "$"


def tex_escape(s: str) -> str:
    """Text for pdflatex (``inputenc`` utf8, OT1): specials escaped, Latin
    accents as accent commands, Greek letters in math mode, any other
    non-ASCII character as ``<U+XXXX>`` (so the document always compiles)."""
    out = []
    for ch in unicodedata.normalize("NFC", str(s)):
        if ch in _TEX:
            out.append(_TEX[ch])
        elif ord(ch) < 128:
            out.append(ch if ch.isprintable() else " ")
        else:
            g = _greek(ch)
            if g is not None:
                out.append(g)
                continue
            dec = unicodedata.normalize("NFD", ch)
            if len(dec) == 2 and ord(dec[0]) < 128 and dec[1] in _TEX_ACCENT:
                base = r"\i" if dec[0] == "i" else dec[0]
                out.append("{\\%s{%s}}" % (_TEX_ACCENT[dec[1]], base))
            elif ch.isspace():
                out.append(" ")
            else:
                out.append(r"\textless{}U+%04X\textgreater{}" % ord(ch))
    return "".join(out)


def mpl_escape(s: str) -> str:
    """Text for a matplotlib title / legend: ``$`` escaped, so mathtext never
    parses a name (``$\\frac`` stays literal)."""
    return str(s).replace("$", r"\$")


def file_safe(s: str) -> str:
    """``s`` as a file-name part: anything but letters, digits and ``. + -`` becomes ``_``."""
    return re.sub(r"[^\w.+-]", "_", s)
