#!/usr/bin/env python3
"""Render a terminal capture with colours (`tmux capture-pane -p -e`) to a PNG.

    python3 scripts/ansi_to_png.py capture.ans assets/dashboard.png

Needs Pillow and the DejaVu Sans Mono font (it has the box-drawing and block characters the
dashboard draws). Understands what tmux emits: SGR resets, bold, dim, italic, underline,
reverse, the 8/16 colours, 256-colour and 24-bit colours; other escapes are dropped.
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 15
FG, BG = (0xD8, 0xDE, 0xE9), (0x1E, 0x22, 0x2A)
# A common dark palette (the 16 ANSI colours).
PALETTE = [
    (0x3B, 0x42, 0x52), (0xE0, 0x6C, 0x75), (0x98, 0xC3, 0x79), (0xE5, 0xC0, 0x7B),
    (0x61, 0xAF, 0xEF), (0xC6, 0x78, 0xDD), (0x56, 0xB6, 0xC2), (0xD8, 0xDE, 0xE9),
    (0x5C, 0x63, 0x70), (0xFF, 0x7A, 0x85), (0xB5, 0xE8, 0x90), (0xFF, 0xD8, 0x8A),
    (0x82, 0xC8, 0xFF), (0xE0, 0x9A, 0xF0), (0x7F, 0xD8, 0xE0), (0xFF, 0xFF, 0xFF),
]
# Box-drawing characters are drawn as lines, so borders join across cells at any line height:
# which of (left, right, up, down) each one reaches.
BOX = {
    "─": "lr", "│": "ud", "┌": "rd", "┐": "ld", "└": "ru", "┘": "lu",
    "├": "udr", "┤": "udl", "┬": "lrd", "┴": "lru", "┼": "lrud",
}
SGR = re.compile(r"\x1b\[([0-9;:]*)m")
OTHER_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[A-Za-ln-z]|\][^\x07]*\x07|[()][0-9A-B])")


def color256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg, self.bg = None, None
        self.bold = self.dim = self.reverse = self.underline = False

    def apply(self, params):
        codes = [int(p) if p else 0 for p in re.split("[;:]", params)] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 4:
                self.underline = True
            elif c == 7:
                self.reverse = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 24:
                self.underline = False
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37 or 90 <= c <= 97:
                self.fg = PALETTE[c % 10 + (8 if c >= 90 else 0)]
            elif 40 <= c <= 47 or 100 <= c <= 107:
                self.bg = PALETTE[c % 10 + (8 if c >= 100 else 0)]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    rgb, i = color256(codes[i + 2]), i + 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    rgb, i = tuple(codes[i + 2:i + 5]), i + 4
                else:
                    rgb = None
                if c == 38:
                    self.fg = rgb
                else:
                    self.bg = rgb
            i += 1

    def colors(self):
        fg, bg = self.fg or FG, self.bg or BG
        if self.reverse:
            fg, bg = bg, fg
        if self.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, BG))
        return fg, bg


def cells(text):
    """Rows of (char, fg, bg, bold, underline)."""
    style = Style()
    rows = []
    for line in text.split("\n"):
        row = []
        pos = 0
        line = OTHER_ESCAPE.sub("", line)
        for m in SGR.finditer(line):
            for ch in line[pos:m.start()]:
                row.append((ch, *style.colors(), style.bold, style.underline))
            style.apply(m.group(1))
            pos = m.end()
        for ch in line[pos:]:
            row.append((ch, *style.colors(), style.bold, style.underline))
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def draw_box(draw, arms, px, py, cw, ch, fg):
    mx, my = px + cw // 2, py + ch // 2
    ends = {"l": (px, my), "r": (px + cw - 1, my), "u": (mx, py), "d": (mx, py + ch - 1)}
    for arm in arms:
        draw.line([(mx, my), ends[arm]], fill=fg)


def render(rows, out):
    font, bold = ImageFont.truetype(FONT, SIZE), ImageFont.truetype(BOLD, SIZE)
    cw = round(font.getlength("M"))
    ch = round(SIZE * 1.25)
    cols = max(len(r) for r in rows)
    pad = 12
    img = Image.new("RGB", (cols * cw + 2 * pad, len(rows) * ch + 2 * pad), BG)
    draw = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, (c, fg, bg, is_bold, underline) in enumerate(row):
            px, py = pad + x * cw, pad + y * ch
            if bg != BG:
                draw.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
            if c in BOX:
                draw_box(draw, BOX[c], px, py, cw, ch, fg)
            elif c != " ":
                draw.text((px, py + (ch - SIZE) // 2 - 1), c, font=bold if is_bold else font, fill=fg)
            if underline:
                draw.line([px, py + ch - 2, px + cw - 1, py + ch - 2], fill=fg)
    img.save(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        render(cells(f.read()), sys.argv[2])


if __name__ == "__main__":
    main()
