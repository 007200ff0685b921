"""Each ladder decision on its own: CRF and caps, caps lowered to the source, passthrough
eligible or not (and why), and the ffmpeg command each decision produces."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest

from academy.config import ConfigError
from src.application.ports.transcoder import ProbeResult
from src.infrastructure.media.ffmpeg_command import X264_PARAMS, ladder_command
from src.infrastructure.media.ladder import (
    DEFAULT_LADDER,
    MIN_CAP_KBPS,
    Rung,
    format_ladder,
    parse_ladder,
    plan_ladder,
)
from src.infrastructure.media.passthrough import (
    COPY_MIN_KEPT,
    TRIAL_MAX_FACTOR,
    after_trial,
    decide,
    hls_cuts,
    keyint_frames,
    worth_a_rate_trial,
)
from src.infrastructure.media.probe import KeyframeTimes, SourceInfo
from src.infrastructure.media.rate_trial import (
    TRIAL_SECONDS,
    kept_share,
    rate_trial_command,
    trial_windows,
)
from tests.dev_config import dev_config


def test_every_rung_is_a_capped_crf_with_a_two_second_buffer():
    renditions = plan_ladder(1920, 1080)
    assert [(r.name, r.crf, r.maxrate_kbps, r.bufsize_kbps) for r in renditions] == [
        (rung.name, rung.crf, rung.maxrate_kbps, 2 * rung.maxrate_kbps) for rung in DEFAULT_LADDER
    ]
    assert all(r.capped_from_kbps == 0 for r in renditions)


def test_no_cap_is_above_what_the_source_carries_for_the_rungs_size():
    # A 2.9 Mb/s 1080p upload: the 1080p cap comes down to 2.9 Mb/s, the 720p's to 2/3 of it
    # and the 480p's to 4/9; the 360p's own 800 is already below its third.
    renditions = {r.name: r for r in plan_ladder(1920, 1080, DEFAULT_LADDER, 2900)}
    assert (renditions["1080p"].maxrate_kbps, renditions["1080p"].capped_from_kbps) == (2900, 5000)
    assert (renditions["720p"].maxrate_kbps, renditions["720p"].capped_from_kbps) == (1933, 2800)
    assert (renditions["480p"].maxrate_kbps, renditions["480p"].capped_from_kbps) == (1289, 1400)
    assert (renditions["360p"].maxrate_kbps, renditions["360p"].capped_from_kbps) == (800, 0)
    # A nearly empty stream still leaves x264 room for a keyframe, less on a smaller rung.
    caps = [r.maxrate_kbps for r in plan_ladder(1920, 1080, DEFAULT_LADDER, 40)]
    assert caps == [MIN_CAP_KBPS, 133, 89, 67]


def test_lowered_caps_step_down_the_ladder():
    # A low-rate upload (0.48 Mb/s) no longer holds every rung at its rate: each cap is
    # clearly below the one above, so the bandwidth rule keeps the rungs.
    caps = [r.maxrate_kbps for r in plan_ladder(1920, 1080, DEFAULT_LADDER, 480)]
    assert caps == [480, 320, 213, 160]
    assert all(b <= a * 0.85 for a, b in itertools.pairwise(caps))
    # A portrait 480p source: its own size is the top rung, the 360p gets 3/4 of its rate.
    assert [r.maxrate_kbps for r in plan_ladder(480, 854, DEFAULT_LADDER, 300)] == [300, 225]
    # Unknown source rate: the rung's own caps.
    assert plan_ladder(1920, 1080, DEFAULT_LADDER, None)[0].maxrate_kbps == 5000


def test_ladder_setting_round_trips_and_bad_ones_say_what_is_wrong():
    text = "1080p:1080:22:4000:1200,540p:540:24.5:1200"
    ladder = parse_ladder(text)
    assert ladder[0] == Rung("1080p", 1080, 22, 4000, 1200)
    assert ladder[1] == Rung("540p", 540, 24.5, 1200, 0)
    assert format_ladder(ladder) == text
    for bad, words in [
        ("1080p:1080:23", "name:height:crf:maxrate_kbps"),
        ("1080p:1080:high:5000", "non-numeric"),
        ("1080p:1080:60:5000", "crf must be between 0 and 51"),
        ("audio:1080:23:5000", "not be 'audio'"),
        ("a:720:23:100,b:720:23:200", "heights must be unique"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_ladder(bad)


def test_video_ladder_comes_from_the_environment_and_a_bad_one_names_the_variable():
    assert dev_config({}).video_ladder == DEFAULT_LADDER
    cfg = dev_config({"VIDEO_LADDER": "720p:720:24:2000", "VIDEO_AUDIO_KBPS": "96"})
    assert cfg.video_ladder == (Rung("720p", 720, 24, 2000),)
    assert cfg.video_audio_kbps == 96
    with pytest.raises(ConfigError, match=r"^VIDEO_LADDER: .*720p:720"):
        dev_config({"VIDEO_LADDER": "720p:720"})
    with pytest.raises(ConfigError, match="VIDEO_AUDIO_KBPS"):
        dev_config({"VIDEO_AUDIO_KBPS": "8"})


# -- passthrough -----------------------------------------------------------------------------

SOURCE = SourceInfo(
    probe=ProbeResult("mov,mp4,m4a,3gp,3g2,mj2", 60.0, 1920, 1080, 7_500_000, "h264", True),
    demuxer="mov",
    video_index=0,
    audio_index=1,
    fps=30.0,
    display_width=1920,
    display_height=1080,
    video_profile="High",
    video_level=40,
    pix_fmt="yuv420p",
    progressive=True,
    video_kbps=500,
)
EVERY_2S = [float(t) for t in range(0, 60, 2)]


def _decide(source=SOURCE, keyframes=EVERY_2S, ladder=DEFAULT_LADDER):
    top = plan_ladder(source.display_width, source.display_height, ladder, source.video_kbps)[0]
    return decide(source, top, keyframes, 6)


def test_a_low_rate_player_safe_h264_source_is_passed_through():
    decision = _decide()
    assert decision.copy, decision.reason
    assert "500 kb/s at or below 600 kb/s" in decision.reason
    assert decision.cuts == tuple(float(t) for t in range(6, 60, 6))
    # The encoded rungs get a GOP longer than any gap between the source's keyframes.
    assert keyint_frames(decision, 30.0) == 210


# -- the rate trial: a source above its threshold, copied only when our encode keeps most ---


def _top(source=SOURCE):
    return plan_ladder(
        source.display_width, source.display_height, DEFAULT_LADDER, source.video_kbps
    )[0]


LEAN = dataclasses.replace(SOURCE, video_kbps=1100)


def test_only_a_source_whose_rate_alone_stands_in_the_way_gets_a_rate_trial():
    assert worth_a_rate_trial(LEAN, _top(LEAN))
    assert not worth_a_rate_trial(SOURCE, _top())  # at or below the threshold: copied anyway
    far = dataclasses.replace(SOURCE, video_kbps=round(600 * TRIAL_MAX_FACTOR) + 1)
    assert not worth_a_rate_trial(far, _top(far))
    hevc = dataclasses.replace(LEAN, probe=dataclasses.replace(LEAN.probe, video_codec="hevc"))
    assert not worth_a_rate_trial(hevc, _top(hevc))
    assert not worth_a_rate_trial(dataclasses.replace(LEAN, video_kbps=None), _top())


def test_a_lean_source_is_copied_when_our_encode_keeps_most_of_its_bytes():
    top = _top(LEAN)
    pending = decide(LEAN, top, EVERY_2S, 6, rate_on_trial=True)
    assert pending.copy and "at or below" not in pending.reason
    kept = after_trial(pending, LEAN, top, 0.92)
    assert kept.copy and kept.cuts == pending.cuts
    assert kept.reason.startswith(
        "the source video's 1100 kb/s is above the 1080p rung's passthrough threshold of "
        "600 kb/s, but our encode of the same stretches came to 92% of its bytes"
    )
    saved = after_trial(pending, LEAN, top, COPY_MIN_KEPT - 0.01)
    assert not saved.copy and saved.reason.endswith("came to 79% of its bytes")
    doubt = after_trial(pending, LEAN, top, None)
    assert not doubt.copy and doubt.reason.endswith("the rate trial could not tell more")
    # The keyframes still decide first, and a source within the threshold needs no trial.
    sparse = decide(LEAN, top, [0.0, 30.0], 6, rate_on_trial=True)
    assert after_trial(sparse, LEAN, top, 0.99) == sparse and not sparse.copy
    plain = decide(SOURCE, _top(), EVERY_2S, 6)
    assert after_trial(plain, SOURCE, _top(), 0.1) == plain


def test_the_rate_trial_encodes_the_windows_as_the_top_rung_would():
    windows = trial_windows(60.0)
    assert windows == [(t, t + TRIAL_SECONDS) for t in (12.0, 24.0, 36.0, 48.0)]
    top = _top(LEAN)
    cmd = rate_trial_command(
        ffmpeg_bin="ffmpeg",
        source="source.mp4",
        demuxer="mov",
        video_index=0,
        windows=windows,
        rendition=top,
        crf=24,
        x264_params=X264_PARAMS,
        preset="veryfast",
    )
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-ss"] == [
        "12.000",
        "24.000",
        "36.000",
        "48.000",
    ]
    assert cmd.count("-t") == 4 and cmd[cmd.index("-t") + 1] == "2.000"
    opts = _options(cmd)
    assert (opts["-crf"], opts["-maxrate"], opts["-x264-params"]) == ("24", "1100k", X264_PARAMS)
    assert opts["-f"] == "h264" and "rate_trial.h264" in cmd
    assert "scale" not in opts["-filter_complex"]  # a copy candidate is at the rung's size
    assert kept_share(900, 1000) == 0.9
    assert kept_share(900, 0) is None and kept_share(0, 1000) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"video_kbps": 1290}, "1290 kb/s is above the 1080p rung's passthrough threshold of 600"),
        ({"video_kbps": None}, "bitrate is unknown"),
        ({"video_profile": "High 10"}, "profile 'High 10' is not High or Main"),
        ({"video_profile": "Baseline"}, "profile 'Baseline' is not High or Main"),
        ({"pix_fmt": "yuv422p"}, "pixel format yuv422p is not 8-bit 4:2:0"),
        ({"video_level": 51}, "level 5.1 is above 4.2"),
        ({"progressive": False}, "not known to be progressive"),
        ({"rotated": True}, "rotated or has non-square pixels"),
        ({"square_pixels": False}, "rotated or has non-square pixels"),
        ({"fps": 120.0}, "120 fps, above 60"),
    ],
)
def test_passthrough_is_refused_with_the_reason(change, reason):
    decision = _decide(dataclasses.replace(SOURCE, **change))
    assert not decision.copy
    assert reason in decision.reason


def test_passthrough_needs_h264_at_exactly_a_rung_size():
    hevc = dataclasses.replace(SOURCE, probe=dataclasses.replace(SOURCE.probe, video_codec="hevc"))
    assert "hevc, not H.264" in _decide(hevc).reason
    odd = dataclasses.replace(
        SOURCE,
        probe=dataclasses.replace(SOURCE.probe, width=1600, height=900),
        display_width=1600,
        display_height=900,
    )
    # 1600x900 is above 720p: its top rung is a 1280x720 downscale, not the source's size.
    assert _decide(odd).reason == "the source is 1600x900, the rung 1280x720"


def test_passthrough_is_off_for_a_rung_without_a_threshold():
    ladder = (Rung("1080p", 1080, 23, 5000), *DEFAULT_LADDER[1:])
    assert _decide(ladder=ladder).reason == "passthrough is off for the 1080p rung"


@pytest.mark.parametrize(
    ("keyframes", "reason"),
    [
        ([0.0, 10.0, 20.0, 30.0, 40.0, 50.0], "make a 10.0 s segment (target 6 s, at most 9)"),
        ([0.5, 6.0, 12.0], "does not start on a keyframe"),
        ([t / 2 for t in range(120)], "a keyframe every 0.50 s"),
        ([], "does not start on a keyframe"),
    ],
)
def test_keyframes_that_cannot_cut_near_target_segments_refuse_passthrough(keyframes, reason):
    decision = _decide(keyframes=keyframes)
    assert not decision.copy
    assert reason in decision.reason


def test_segments_are_cut_where_the_hls_muxer_cuts_them():
    # The first keyframe at or after each multiple of the target, counted in segments.
    assert hls_cuts([0, 2, 4, 6, 8, 10, 12.5, 14], 6) == [6, 12.5]
    assert hls_cuts([0, 7, 13, 19.5], 6) == [7, 13, 19.5]
    assert hls_cuts([0, 14, 15], 6) == [14, 15]  # a long gap: the next keyframe cuts at once


def test_keyframe_times_are_read_line_by_line_relative_to_the_stream_start():
    times = KeyframeTimes(start_seconds=0.5)
    lines = ["0.500000,900,K__", "0.533333,80,___", "2.500000,700,K_", "N/A,5,K_", "", "4.5,1,K_D"]
    for line in lines:
        times.feed(line)
    assert times.times == [0.0, 2.0, 4.0]


def test_the_packets_inside_the_rate_trial_windows_are_weighed():
    times = KeyframeTimes(start_seconds=0.5, windows=[(0.0, 1.0), (4.0, 6.0)])
    lines = ["0.5,900,K_", "1.2,80,__", "1.5,70,__", "3.0,500,K_", "4.5,60,__", "6.4,40,__"]
    for line in [*lines, "6.5,999,K_", "N/A,999,__", "5.0,N/A,__"]:
        times.feed(line)
    # 0.0 to 1.0: the packets at 0.0 and 0.7; 4.0 to 6.0: those at 4.0 and 5.9 (6.0 is out).
    assert times.window_bytes == 900 + 80 + 60 + 40


# -- the ffmpeg command --------------------------------------------------------------------


def _command(renditions, **kwargs):
    args = dict(
        ffmpeg_bin="ffmpeg",
        source="source.mp4",
        demuxer="mov",
        video_index=0,
        audio_index=1,
        fps=30.0,
        renditions=renditions,
        segment_seconds=6,
        preset="veryfast",
    )
    return ladder_command(**(args | kwargs))


def _options(cmd: list[str]) -> dict[str, str]:
    return {cmd[i]: cmd[i + 1] for i in range(len(cmd) - 1) if cmd[i].startswith("-")}


def test_command_encodes_each_rung_at_its_crf_under_its_cap_and_the_audio_once():
    renditions = plan_ladder(1920, 1080, DEFAULT_LADDER, 2900)
    cmd = _command(renditions)
    opts = _options(cmd)
    for i, r in enumerate(renditions):
        assert opts[f"-c:v:{i}"] == "libx264"
        assert (opts[f"-preset:v:{i}"], opts[f"-x264-params:v:{i}"]) == ("veryfast", X264_PARAMS)
        assert opts[f"-crf:v:{i}"] == f"{r.crf:g}"
        assert opts[f"-maxrate:v:{i}"] == f"{r.maxrate_kbps}k"
        assert opts[f"-bufsize:v:{i}"] == f"{2 * r.maxrate_kbps}k"
        assert opts[f"-force_key_frames:v:{i}"] == "expr:gte(t,n_forced*6)"
        assert opts[f"-g:v:{i}"] == opts[f"-keyint_min:v:{i}"] == "180"
    assert opts["-maxrate:v:0"] == "2900k"
    assert not any(arg.startswith("-b:v") for arg in cmd)  # quality-targeted, not a bitrate
    # One audio stream, mapped once, in a group every video variant refers to.
    assert cmd.count("0:1") == 1
    assert (opts["-c:a"], opts["-b:a"]) == ("aac", "128k")
    assert opts["-var_stream_map"] == (
        "v:0,agroup:audio,name:1080p v:1,agroup:audio,name:720p v:2,agroup:audio,name:480p "
        "v:3,agroup:audio,name:360p a:0,agroup:audio,name:audio"
    )


def test_command_for_a_silent_upload_has_no_audio_group():
    opts = _options(_command(plan_ladder(640, 360), audio_index=None))
    assert opts["-var_stream_map"] == "v:0,name:360p"
    assert "-c:a" not in opts


def test_passthrough_command_copies_the_top_rung_and_keys_the_others_on_its_keyframes():
    renditions = plan_ladder(1920, 1080, DEFAULT_LADDER, 900)
    cmd = _command(renditions, copy_keyint=210, thumbnail=(6.0, 640, 360))
    opts = _options(cmd)
    assert opts["-c:v:0"] == "copy"
    assert not any(arg.endswith(":v:0") and arg != "-c:v:0" for arg in cmd if arg.startswith("-"))
    for i in (1, 2, 3):
        assert opts[f"-c:v:{i}"] == "libx264"
        assert opts[f"-force_key_frames:v:{i}"] == "source"
        assert opts[f"-g:v:{i}"] == "210"
    # The copied stream comes straight from the input; the decoded frames feed the thumbnail
    # and the 720p, which feeds its encoder, the 480p and the 360p (a 4:3 step from the 480p
    # would blur text).
    assert cmd[cmd.index("-map", cmd.index("-filter_complex")) + 1] == "0:0"
    graph = opts["-filter_complex"]
    assert graph.count("split=2") == 1 and graph.count("split=3") == 1
    assert re.search(r"scale=1280:720\[(s\d+)\];\[\1\]split=3", graph)
    assert (
        graph.index("scale=1280:720") < graph.index("scale=852:480") < graph.index("scale=640:360")
    )
    assert "scale=1920:1080" not in graph
    # One frame reaches the thumbnail's scaler, not every frame after its instant (which cost
    # 7 % of the encode's CPU on the bench's lecture).
    assert re.search(
        r"select=gte\(t\\,6\.000\)\*eq\(selected_n\\,0\)\[(s\d+)\];\[\1\]scale=640:360", graph
    )
    # The filter graph runs in ffmpeg's main thread.
    assert opts["-filter_complex_threads"] == "1"
    with pytest.raises(ValueError, match="MAX_FPS"):
        _command(renditions, copy_keyint=210, fps=120.0)
