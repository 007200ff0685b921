"""The content probe's decisions, each on its own, and how each reaches the ffmpeg command;
the scaling tree and the rule that drops a rendition no smaller than the one above it."""

from __future__ import annotations

import itertools

import pytest

from src.infrastructure.media.content_probe import (
    ANALYSIS_HEIGHT,
    ANALYSIS_WIDTH,
    DEFAULT_TUNING,
    FEW_B_FRAMES,
    MOTION_LOWER_X264_PARAMS,
    MOTION_MIN_CHANGE,
    MOTION_X264_PARAMS,
    SCREEN_CRF_OFFSET,
    SCREEN_MAX_CHANGE,
    SCREEN_MIN_EDGES,
    SCREEN_PASSTHROUGH_FACTOR,
    SCREEN_SOURCE_CAP_FACTOR,
    SCREEN_X264_PARAMS,
    SOFT_MAX_EDGES,
    SOFT_TOP_CRF_OFFSET,
    SOFT_X264_PARAMS,
    ContentStats,
    choose_tuning,
    content_probe_command,
    parse_content_probe,
    sample_times,
)
from src.infrastructure.media.ffmpeg_command import (
    RATE_BOUND_X264_PARAMS,
    X264_PARAMS,
    effective_crf,
    ladder_command,
    scale_parents,
    x264_params_for,
)
from src.infrastructure.media.ladder import DEFAULT_LADDER, plan_ladder
from src.infrastructure.media.master_playlist import MasterVariant, distinct_variants


def _command(renditions, **options) -> list[str]:
    return ladder_command(
        ffmpeg_bin="ffmpeg",
        source="src.mp4",
        demuxer="mov",
        video_index=0,
        audio_index=None,
        fps=30,
        renditions=renditions,
        segment_seconds=6,
        preset="veryfast",
        **options,
    )


def test_sharp_and_still_content_is_a_screen_and_gets_a_lower_crf():
    # The bench's screencast: many edges, almost nothing changing between frames.
    tuning = choose_tuning(ContentStats(edge_density=0.034, change=0.0004, samples=4))
    assert (tuning.kind, tuning.crf_offset) == ("screen", SCREEN_CRF_OFFSET)
    assert "edge density 0.034" in tuning.reason


def test_sharp_content_that_moves_is_not_a_screen_but_a_moving_picture():
    # Edges enough, but a third of the picture changes: a game or a pan, not a desktop.
    tuning = choose_tuning(ContentStats(SCREEN_MIN_EDGES * 2, SCREEN_MAX_CHANGE * 3, 4))
    assert (tuning.kind, tuning.crf_offset, tuning.top_crf_offset) == ("motion", 0.0, 0.0)
    assert tuning.reason.startswith("a moving picture")


def test_slides_keep_the_ladders_own_crf():
    # The bench's slide lecture: a speaker inset moves, the rest is still.
    tuning = choose_tuning(ContentStats(0.008, 0.002, 4))
    assert (tuning.kind, tuning.crf_offset, tuning.top_crf_offset) == ("default", 0.0, 0.0)
    assert tuning.reason.startswith("a still picture (slides): edge density 0.008, 0.2%")


def test_full_frame_motion_is_a_moving_picture_at_the_ladders_own_crf():
    # The bench's full-frame motion: as few edges as the slides, but 3.4 % of pixels changing.
    tuning = choose_tuning(ContentStats(0.007, 0.034, 4))
    assert (tuning.kind, tuning.crf_offset, tuning.top_crf_offset) == ("motion", 0.0, 0.0)
    assert tuning.reason.startswith("a moving picture: edge density 0.007, 3.4%")
    # The line: at MOTION_MIN_CHANGE it moves, just under it is still.
    assert choose_tuning(ContentStats(0.007, MOTION_MIN_CHANGE, 4)).kind == "motion"
    assert choose_tuning(ContentStats(0.007, MOTION_MIN_CHANGE * 0.9, 4)).kind == "default"
    # A soft picture that moves (a hand-held camera) is a camera picture first.
    assert choose_tuning(ContentStats(0.002, 0.2, 4)).kind == "camera"


def test_a_soft_camera_picture_gets_a_lower_crf_on_its_top_rung_only():
    # The bench's talking head: soft edges, sensor noise under the change threshold.
    tuning = choose_tuning(ContentStats(0.002, 0.001, 4))
    assert (tuning.kind, tuning.crf_offset, tuning.top_crf_offset) == (
        "camera",
        0.0,
        SOFT_TOP_CRF_OFFSET,
    )
    assert tuning.reason.startswith("a soft camera picture: edge density 0.002")
    assert choose_tuning(ContentStats(SOFT_MAX_EDGES, 0.001, 4)).kind == "default"
    renditions = plan_ladder(1920, 1080)
    cmd = _command(renditions, top_crf_offset=tuning.top_crf_offset)
    crfs = [cmd[cmd.index(f"-crf:v:{i}") + 1] for i in range(4)]
    assert crfs == ["23.5", "24", "23", "23"]  # the 1080p at 23.5; the rest as the ladder says
    # With the top rung copied, the first encoded one (the 720p) is the one moved.
    cmd = _command(renditions, top_crf_offset=-1.0, copy_keyint=60)
    assert [cmd[cmd.index(f"-crf:v:{i}") + 1] for i in range(1, 4)] == ["23", "23", "23"]


def test_nothing_probed_means_the_defaults():
    assert choose_tuning(None) == DEFAULT_TUNING
    assert choose_tuning(ContentStats(0.5, 0.0, 0)) == DEFAULT_TUNING


def test_probe_output_is_averaged_per_map_and_a_partial_frame_is_ignored():
    # (With two stretches the median change is their mean.)
    cell = ANALYSIS_WIDTH * ANALYSIS_HEIGHT
    # Stretch 1: a quarter of the pixels on edges, none changing; stretch 2: half, all.
    first = bytes([255]) * (cell // 4) + bytes(cell - cell // 4) + bytes(cell)
    second = bytes([255]) * (cell // 2) + bytes(cell - cell // 2) + bytes([255]) * cell
    stats = parse_content_probe(first + second + bytes(100))
    assert stats == ContentStats(pytest.approx(0.375), pytest.approx(0.5), 2)
    assert parse_content_probe(b"") is None
    assert parse_content_probe(bytes(cell)) is None  # half a stretch


def test_one_stretch_on_a_cut_does_not_make_still_slides_a_moving_picture():
    cell = ANALYSIS_WIDTH * ANALYSIS_HEIGHT
    edges = bytes([255]) * (cell // 100) + bytes(cell - cell // 100)  # slides: 1 % on edges
    still = edges + bytes([255]) * (cell // 500) + bytes(cell - cell // 500)  # 0.2 % changing
    cut = edges + bytes([255]) * cell  # the next slide: every pixel changes
    stats = parse_content_probe(still + cut + still + still)
    assert stats.change == pytest.approx(0.002, abs=1e-4)
    assert choose_tuning(stats).kind == "default"
    # Two stretches of four moving is a moving picture.
    moving = edges + bytes([255]) * (cell // 20) + bytes(cell - cell // 20)
    assert choose_tuning(parse_content_probe(still + moving + moving + cut)).kind == "motion"


def test_probe_reads_a_short_stretch_at_each_sample_point_only():
    assert sample_times(100.0) == [20.0, 40.0, 60.0, 80.0]
    cmd = content_probe_command(
        ffmpeg_bin="ffmpeg", source="src.mp4", demuxer="mov", video_index=0, duration_seconds=100
    )
    # Each seek reads half a second, never the rest of the file; the upload stays guarded.
    assert cmd.count("-ss") == 4 and cmd.count("-t") == 4
    assert cmd.count("-protocol_whitelist") == 4 and "file:src.mp4" in cmd
    graph = cmd[cmd.index("-filter_complex") + 1]
    assert "edgedetect" in graph and "tblend=all_mode=difference" in graph


def test_the_screen_tuning_lowers_every_encoded_rungs_crf_in_the_command():
    renditions = plan_ladder(1920, 1080)
    cmd = _command(renditions, crf_offset=SCREEN_CRF_OFFSET)
    crfs = [cmd[i + 1] for i, arg in enumerate(cmd) if arg.startswith("-crf:v:")]
    assert crfs == [f"{r.crf + SCREEN_CRF_OFFSET:g}" for r in renditions]
    assert effective_crf(1, -3) == 0 and effective_crf(50, 3) == 51


def test_each_rung_is_scaled_from_a_picture_at_least_one_and_a_half_times_its_size():
    # 720p from the 1080p, 480p from the 720p, and 360p from the 720p too: the 480p is only
    # 4:3 its size, a step that blurs text.
    assert scale_parents(plan_ladder(1920, 1080)) == [None, 0, 1, 1]
    # A 4K source: the 1080p from the source, then the same tree under it.
    ladder = plan_ladder(3840, 2160)
    assert scale_parents(ladder) == [None, 0, 1, 1]
    # A 900p source's top rung (720p) is scaled from the source; 360p from the 720p.
    assert scale_parents(plan_ladder(1600, 900)) == [None, 0, 0]


def _variant(height: int, bandwidth: int) -> MasterVariant:
    return MasterVariant(
        f"{height}p/index.m3u8", bandwidth, bandwidth, height * 16 // 9, height, "avc1.64001f", 30.0
    )


def test_a_rendition_not_clearly_smaller_than_the_one_above_is_dropped_with_the_reason():
    # The demo's low-rate sample: 480p and 360p both held at the source's 200 kb/s.
    kept, dropped = distinct_variants([_variant(480, 171_645), _variant(360, 171_895)])
    assert [v.height for v in kept] == [480]
    assert [v.height for v, _ in dropped] == [360]
    assert "171895 b/s is not 15% below the 853x480 variant's 171645 b/s" in dropped[0][1]


def test_bandwidth_strictly_decreases_down_the_kept_variants():
    # 14 % below is not enough; the next is compared with the last rendition kept.
    kept, dropped = distinct_variants(
        [
            _variant(1080, 1_000_000),
            _variant(720, 860_000),
            _variant(480, 855_000),
            _variant(360, 700_000),
        ]
    )
    assert [v.height for v in kept] == [1080, 360]
    assert [v.height for v, _ in dropped] == [720, 480]
    assert all(a.bandwidth > b.bandwidth for a, b in itertools.pairwise(kept))


def test_a_screen_may_peak_at_twice_its_average_rate():
    tuning = choose_tuning(ContentStats(0.034, 0.0004, 4))
    assert tuning.source_cap_factor == SCREEN_SOURCE_CAP_FACTOR
    # A 0.66 Mb/s screencast: its 1080p may reach 1.32 Mb/s, the smaller rungs that rate
    # scaled by their height (720p: 2/3 of it).
    caps = {
        r.name: r.maxrate_kbps
        for r in plan_ladder(1920, 1080, DEFAULT_LADDER, 660, tuning.source_cap_factor)
    }
    assert caps == {"1080p": 1320, "720p": 880, "480p": 587, "360p": 440}
    assert choose_tuning(ContentStats(0.008, 0.002, 4)).source_cap_factor == 1.0


def test_a_screen_is_copied_only_below_half_the_passthrough_threshold():
    screen = choose_tuning(ContentStats(0.034, 0.0004, 4))
    assert screen.passthrough_factor == SCREEN_PASSTHROUGH_FACTOR
    top = plan_ladder(1920, 1080, DEFAULT_LADDER, 660, 1.0, screen.passthrough_factor)[0]
    assert top.passthrough_kbps == DEFAULT_LADDER[0].passthrough_kbps * SCREEN_PASSTHROUGH_FACTOR
    slides = choose_tuning(ContentStats(0.008, 0.002, 4))
    assert slides.passthrough_factor == 1.0
    top = plan_ladder(1920, 1080, DEFAULT_LADDER, 660, 1.0, slides.passthrough_factor)[0]
    assert top.passthrough_kbps == DEFAULT_LADDER[0].passthrough_kbps


def test_a_screen_gets_no_rate_trial_to_argue_for_a_copy():
    # A still screen's bytes are its keyframes, which the trial's short stretches overstate.
    assert not choose_tuning(ContentStats(0.034, 0.0004, 4)).rate_trial
    for stats in (ContentStats(0.008, 0.002, 4), ContentStats(0.002, 0.001, 4), None):
        assert choose_tuning(stats).rate_trial


def test_a_source_at_or_above_the_top_cap_gets_more_x264_effort_on_the_top_rung():
    camera = ContentStats(0.002, 0.001, 4)
    tuning = choose_tuning(camera, source_video_kbps=6500, top_cap_kbps=5000)
    assert tuning.rate_bound_top and tuning.kind == "camera"
    assert "6500 kb/s reaches the top rung's 5000 kb/s cap" in tuning.reason
    assert not choose_tuning(camera, source_video_kbps=2900, top_cap_kbps=5000).rate_bound_top
    assert not choose_tuning(camera, source_video_kbps=None, top_cap_kbps=5000).rate_bound_top
    # Even unprobed, the rate alone decides this.
    assert choose_tuning(None, 6500, 5000).rate_bound_top

    renditions = plan_ladder(1920, 1080, DEFAULT_LADDER, 6500)
    cmd = _command(renditions, rate_bound_top=True)
    # The top rung gets veryfast's own subpixel refinement; the others keep the cheaper
    # search; every encoder runs one thread.
    assert cmd[cmd.index("-x264-params:v:0") + 1] == RATE_BOUND_X264_PARAMS
    for i in (1, 2, 3):
        assert cmd[cmd.index(f"-x264-params:v:{i}") + 1] == X264_PARAMS
    assert all(cmd[cmd.index(f"-threads:v:{i}") + 1] == "1" for i in range(4))


def _x264_params(cmd: list[str]) -> list[str]:
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg.startswith("-x264-params:v:")]


def test_a_screen_gets_less_x264_analysis_on_every_rung_unless_its_top_is_rate_bound():
    assert choose_tuning(ContentStats(0.034, 0.0004, 4)).x264_params == SCREEN_X264_PARAMS
    renditions = plan_ladder(1920, 1080)
    screen = x264_params_for(SCREEN_X264_PARAMS, rate_bound=False)
    assert screen == "me=dia:subme=0:weightp=0:bframes=1:b-adapt=0"
    cmd = _command(renditions, x264_params=SCREEN_X264_PARAMS)
    assert _x264_params(cmd) == [screen] * len(renditions)
    # A screen at its top rung's cap: the cap decides that rung, which keeps its refinement.
    cmd = _command(renditions, x264_params=SCREEN_X264_PARAMS, rate_bound_top=True)
    assert _x264_params(cmd) == ["me=dia:subme=2:weightp=0:bframes=1:b-adapt=0"] + [screen] * (
        len(renditions) - 1
    )


def test_a_soft_camera_picture_gets_no_inter_partitions_below_a_macroblock():
    camera = choose_tuning(ContentStats(0.002, 0.001, 4), 6500, 5000)
    assert camera.x264_params == SOFT_X264_PARAMS == "partitions=i8x8,i4x4:bframes=1:b-adapt=0"
    assert camera.lower_x264_params is None
    renditions = plan_ladder(1920, 1080, DEFAULT_LADDER, 6500)
    cmd = _command(renditions, x264_params=camera.x264_params, rate_bound_top=True)
    assert _x264_params(cmd) == [
        "me=dia:subme=2:partitions=i8x8,i4x4:bframes=1:b-adapt=0",
        *["me=dia:subme=1:partitions=i8x8,i4x4:bframes=1:b-adapt=0"] * (len(renditions) - 1),
    ]


@pytest.mark.parametrize("stats", [ContentStats(0.008, 0.002, 4), None])
def test_slides_and_unprobed_content_keep_the_ladders_x264_parameters(stats):
    tuning = choose_tuning(stats)
    assert (tuning.x264_params, tuning.lower_x264_params) == (None, None)
    cmd = _command(plan_ladder(1920, 1080), x264_params=None)
    assert _x264_params(cmd) == [X264_PARAMS] * 4
    assert "bframes" not in X264_PARAMS  # veryfast's three adaptive B-frames


def test_every_picture_but_still_slides_gets_one_b_frame_placed_without_a_search():
    # Noise, motion and a screen: B-frames predict little there and their search costs.
    for stats in (ContentStats(0.034, 0.0004, 4), ContentStats(0.002, 0.001, 4)):
        assert FEW_B_FRAMES in choose_tuning(stats).x264_params
    assert choose_tuning(ContentStats(0.007, 0.034, 4)).x264_params == MOTION_X264_PARAMS
    assert MOTION_X264_PARAMS == FEW_B_FRAMES == "bframes=1:b-adapt=0"


def test_a_moving_picture_gets_less_analysis_on_its_lower_rungs_only():
    motion = choose_tuning(ContentStats(0.007, 0.034, 4))
    assert motion.lower_x264_params == MOTION_LOWER_X264_PARAMS == "subme=0:partitions=i8x8,i4x4"
    renditions = plan_ladder(1920, 1080)
    lower = "me=dia:subme=0:bframes=1:b-adapt=0:partitions=i8x8,i4x4"
    options = {"x264_params": motion.x264_params, "lower_x264_params": motion.lower_x264_params}
    cmd = _command(renditions, **options)
    assert _x264_params(cmd) == ["me=dia:subme=1:bframes=1:b-adapt=0", *[lower] * 3]
    # At its cap, the top rung gets the rate-bound refinement; the lower rungs do not.
    cmd = _command(renditions, rate_bound_top=True, **options)
    assert _x264_params(cmd) == ["me=dia:subme=2:bframes=1:b-adapt=0", *[lower] * 3]
    # With the top rung copied, the first encoded rung (the 720p) is the top one.
    cmd = _command(renditions, copy_keyint=60, **options)
    assert _x264_params(cmd) == ["me=dia:subme=1:bframes=1:b-adapt=0", *[lower] * 2]
