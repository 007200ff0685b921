"""The generated sources the ladder benchmarks encode: five kinds of lecture, made here with
ffmpeg's lavfi sources and Debian's DejaVu fonts, never downloaded.

- `lecture`: slides that change every 10 s (`testsrc2` at 1/10 fps), a moving speaker inset
  (`mandelbrot`), a tone; `lecture-lowrate` is the same at a lower rate (a passthrough case);
- `motion`: full-frame `testsrc2` at 30 fps, the worst case for every encoder;
- `screencast`: a code editor recorded from a screen: a file tree, a code listing (this
  repository's own source) that scrolls by a few lines every few seconds, a terminal whose
  counters change every frame, a command being typed with a blinking cursor, a mouse
  pointer gliding over it all, and a full-screen change to a light documentation page
  between 20 s and 40 s;
- `talking-head`: a speaker in front of an out-of-focus room, swaying and nodding softly,
  under camera-like sensor noise.

Every source is H.264 (x264 veryfast, GOP 2 s) + AAC in MP4 at 30 fps, as a recorder would
write it. `TEXT_REGION` is where the screencast's code is (the region the legibility SSIM
reads).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

FPS = 30
FONTS = Path("/usr/share/fonts/truetype/dejavu")
MONO = FONTS / "DejaVuSansMono.ttf"
SANS = FONTS / "DejaVuSans.ttf"
_REPO = Path(__file__).resolve().parent.parent
# The screencast's listings: this repository's own files.
CODE_LISTING = _REPO / "src" / "infrastructure" / "media" / "ffmpeg_transcoder.py"
DOC_LISTING = _REPO / "docs" / "ARCHITECTURE.md"
_QUIET = ("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y")


@dataclass(frozen=True)
class Region:
    """A rectangle as fractions of the frame, so it maps onto every rung's size."""

    left: float
    top: float
    width: float
    height: float

    def crop(self, width: int, height: int) -> str:
        """ffmpeg `crop` arguments for a frame of width x height (even, inside the frame)."""
        w, h = int(self.width * width) // 2 * 2, int(self.height * height) // 2 * 2
        x, y = int(self.left * width) // 2 * 2, int(self.top * height) // 2 * 2
        return f"{w}:{h}:{x}:{y}"


# The code pane (right of the file tree, above the terminal) of a 1920x1080 screencast.
TEXT_REGION = Region(320 / 1920, 30 / 1080, 1500 / 1920, 820 / 1080)


@dataclass(frozen=True)
class Recipe:
    crf: int
    # ffmpeg input and filter arguments, given the work folder (for the listings' text files).
    build: str


def _x264_source(crf: int, maxrate: str = "6M") -> list[str]:
    return [
        *("-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf)),
        *("-maxrate", maxrate, "-bufsize", "12M", "-g", str(2 * FPS), "-pix_fmt", "yuv420p"),
    ]


def _tone() -> list[str]:
    return ["-f", "lavfi", "-i", "sine=frequency=220:sample_rate=48000"]


def lecture_args(seconds: float, crf: int) -> list[str]:
    """Slides every 10 s, a moving Mandelbrot speaker inset bottom right, a tone."""
    return [
        *("-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=1/10"),
        *("-f", "lavfi", "-i", f"mandelbrot=size=384x216:rate={FPS}"),
        *_tone(),
        "-filter_complex",
        f"[0:v]fps={FPS},format=yuv420p[s];[s][1:v]overlay=W-w-40:H-h-40[v]",
        *("-map", "[v]", "-map", "2:a", "-t", str(seconds)),
        *_x264_source(crf),
    ]


def motion_args(seconds: float, crf: int = 20) -> list[str]:
    return [
        *("-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}"),
        *_tone(),
        *("-map", "0:v", "-map", "1:a", "-t", str(seconds)),
        *_x264_source(crf),
    ]


def _file_tree(folder: Path) -> Path:
    """The editor's side bar: a few of the repository's file names, one a line."""
    names = sorted(
        p.relative_to(_REPO / "src").as_posix()
        for p in (_REPO / "src").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    path = folder / "screencast-tree.txt"
    path.write_text("\n".join(n if len(n) <= 30 else "…" + n[-29:] for n in names[:44]) + "\n")
    return path


def screencast_args(
    seconds: float, crf: int = 20, width: int = 1920, height: int = 1080, work: Path = Path(".")
) -> list[str]:
    """A code editor recorded at width x height (laid out for 1920x1080 and scaled)."""
    tree = _file_tree(work)
    bg, pane, term = "0x1e1f22", "0x2b2d30", "0x111214"
    scroll_code = "40-30*3*floor(t/4)"  # three lines every 4 s
    scroll_doc = "40-28*2*floor((t-20)/3)"  # two lines every 3 s
    prompt = "$ python -m pytest tests/integration/test_ffmpeg_transcoder.py -x -q -k text"
    typed = "320+12*floor(mod(t*8\\,100))"  # eight characters a second, then again
    graph = (
        f"[0:v]drawbox=x=0:y=0:w=300:h=1080:c={pane}:t=fill,"
        f"drawtext=fontfile={SANS}:textfile={tree}:expansion=none:x=16:y=20:fontsize=16:"
        "line_spacing=7:fontcolor=0xbcbec4,"
        f"drawtext=fontfile={MONO}:textfile={CODE_LISTING}:expansion=none:x=320:"
        f"y='{scroll_code}':fontsize=22:line_spacing=8:fontcolor=0xbcbec4:"
        "enable='lt(t,20)+gte(t,40)',"
        "drawbox=x=0:y=0:w=1920:h=1080:c=0xfafafa:t=fill:enable='between(t,20,40)',"
        f"drawtext=fontfile={SANS}:textfile={DOC_LISTING}:expansion=none:x=80:"
        f"y='{scroll_doc}':fontsize=20:line_spacing=8:fontcolor=0x202124:"
        "enable='between(t,20,40)',"
        f"drawbox=x=300:y=860:w=1620:h=220:c={term}:t=fill,"
        f"drawtext=fontfile={MONO}:text='collected %{{eif\\:n*7\\:d}} items   "
        "frame %{eif\\:n\\:d}   %{pts\\:hms}':x=320:y=880:fontsize=20:fontcolor=0x6aab73,"
        f"drawtext=fontfile={MONO}:text='{prompt}':expansion=none:x=320:y=944:fontsize=20:"
        "fontcolor=0xbcbec4[bg];"
        # The not-yet-typed part of the command is hidden under a box of the terminal's
        # colour whose left edge moves right; the cursor rides on that edge.
        f"[bg][3:v]overlay=x='{typed}':y=942[t1];"
        f"[t1][1:v]overlay=x='{typed}':y=942:enable='lt(mod(t\\,1)\\,0.5)'[t2];"
        "[t2][2:v]overlay=x='960+700*sin(t/3)':y='500+300*sin(t/5)',"
        f"scale={width}:{height}:flags=lanczos,format=yuv420p[v]"
    )
    return [
        *("-f", "lavfi", "-i", f"color=c={bg}:s=1920x1080:r={FPS}"),
        *("-f", "lavfi", "-i", f"color=c=0xd8dee9:s=12x24:r={FPS}"),
        *("-f", "lavfi", "-i", f"color=c=0xffffff:s=14x22:r={FPS}"),
        *("-f", "lavfi", "-i", f"color=c={term}:s=1300x28:r={FPS}"),
        *_tone(),
        *("-filter_complex", graph, "-map", "[v]", "-map", "4:a", "-t", str(seconds)),
        *_x264_source(crf),
    ]


def _still(colour: str, w: int, h: int, alpha: str) -> str:
    """A shape drawn once (geq on one frame) and repeated: a lavfi input for overlay."""
    return (
        f"color=c={colour}:s={w}x{h}:r=1,format=yuva420p,"
        f"geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)':a='{alpha}',"
        f"trim=end_frame=1,loop=loop=-1:size=1,fps={FPS}"
    )


def talking_head_args(seconds: float, crf: int = 20) -> list[str]:
    """A speaker (head and shoulders) before a blurred room, soft motion, sensor noise."""
    room = (
        f"color=c=0x6e6a5e:s=1920x1080:r=1,"
        "drawbox=x=1300:y=120:w=420:h=520:c=0xe8e4d8:t=fill,"
        "drawbox=x=120:y=600:w=600:h=40:c=0x5a4030:t=fill,"
        "drawbox=x=140:y=420:w=60:h=180:c=0x803020:t=fill,"
        "drawbox=x=220:y=450:w=50:h=150:c=0x305080:t=fill,"
        f"gblur=sigma=10,trim=end_frame=1,loop=loop=-1:size=1,fps={FPS}"
    )
    head = _still("0xc69a7c", 440, 560, "255*lte(pow((X-220)/210,2)+pow((Y-280)/270,2),1)")
    body = _still("0x2c3e66", 900, 500, "255*lte(pow((X-450)/450,2)+pow((Y-500)/420,2),1)")
    graph = (
        # Light drifting over the room, as a camera's auto exposure breathes.
        "[0:v]eq=brightness='0.02*sin(2*PI*t/11)':eval=frame[room];"
        "[room][2:v]overlay=x='510+30*sin(2*PI*t/9)':y='600+8*sin(2*PI*t/4)'[b1];"
        "[b1][1:v]overlay=x='740+36*sin(2*PI*t/9+0.3)':y='150+14*sin(2*PI*t/3.5)',"
        "noise=alls=8:allf=t,format=yuv420p[v]"
    )
    return [
        *("-f", "lavfi", "-i", room, "-f", "lavfi", "-i", head, "-f", "lavfi", "-i", body),
        *_tone(),
        *("-filter_complex", graph, "-map", "[v]", "-map", "3:a", "-t", str(seconds)),
        *_x264_source(crf),
    ]


# name -> what the doc says about it; make_source builds each.
KINDS = ("lecture", "lecture-lowrate", "motion", "screencast", "talking-head")


def source_args(kind: str, seconds: float, work: Path) -> list[str]:
    if kind == "lecture":
        return lecture_args(seconds, 20)
    if kind == "lecture-lowrate":
        return lecture_args(seconds, 28)
    if kind == "motion":
        return motion_args(seconds)
    if kind == "screencast":
        return screencast_args(seconds, work=work)
    if kind == "talking-head":
        return talking_head_args(seconds)
    raise ValueError(f"unknown source kind {kind!r}; one of {', '.join(KINDS)}")


def make_source(kind: str, path: Path, seconds: float) -> Path:
    """Write `kind` as `seconds` of 1080p30 H.264 + AAC MP4 at `path`."""
    args = source_args(kind, seconds, path.parent)
    subprocess.run(
        [*_QUIET, *args, "-c:a", "aac", "-b:a", "128k", "-shortest", str(path)], check=True
    )
    return path
