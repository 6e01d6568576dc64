"""The camera's answer over its last frames (web/evidence.js): shown once it holds for most of the
last half second's frames, "not sure" while they are mixed; first on its rules, then through the
fake camera on videos of several frames, where a pet's frames and another thing's alternate."""

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from .conftest import VARIANT, NeitherExport
from .pages import open_page, wait_for_frames


def shown(
    page: Page, frames: list[tuple[str, float]], reset_before: int | None = None
) -> list[str]:
    """The answers a SteadyAnswer shows for frames (answer, time in ms), one after another."""
    return page.evaluate(
        """async ([frames, resetBefore]) => {
            const { SteadyAnswer } = await import("./evidence.js");
            const steady = new SteadyAnswer();
            return frames.map(([label, time], i) => {
                if (i === resetBefore) steady.reset();
                return steady.add(label, time);
            });
        }""",
        [frames, reset_before],
    )


def at_30_fps(labels: list[str], start_ms: float = 0.0) -> list[tuple[str, float]]:
    return [(label, start_ms + i * 1000 / 30) for i, label in enumerate(labels)]


def test_the_first_frame_is_shown_as_it_is(module_page: Page):
    assert shown(module_page, at_30_fps(["neither"])) == ["neither"]
    assert shown(module_page, at_30_fps(["dog", "cat"]))[-1] == "unsure"  # 1 of 2: mixed


def test_one_odd_frame_does_not_change_the_answer(module_page: Page):
    answers = shown(module_page, at_30_fps(["dog"] * 10 + ["neither"] + ["dog"] * 5))
    assert answers == ["dog"] * 16


def test_frames_that_keep_changing_are_not_sure(module_page: Page):
    answers = shown(module_page, at_30_fps(["dog", "neither"] * 15))
    assert answers[0] == "dog"
    assert set(answers[1:]) == {"unsure"}


def test_a_new_answer_shows_once_it_holds_for_most_of_the_window(module_page: Page):
    """A dog, then the camera turned to something else: "not sure" for a moment, then "No cat or
    dog" once 70% of the last 500 ms say so; no frame older than the window counts."""
    answers = shown(module_page, at_30_fps(["dog"] * 30 + ["neither"] * 30))
    assert answers[:30] == ["dog"] * 30
    switched = answers[30:]
    assert switched[0] == "dog"  # 1 of the window's 16 frames says otherwise
    first = switched.index("neither")
    assert set(switched[1:first]) <= {"dog", "unsure"}
    assert set(switched[first:]) == {"neither"}
    # In a 500 ms window at 30 frames/s (16 frames), 70%: 12 frames of "neither", and 5 of "dog"
    # at most: the 12th frame of it.
    assert first == 11
    # After a pause longer than the window, the old frames are gone: the new one alone counts.
    late = [*at_30_fps(["dog"] * 20), ("cat", 2000.0)]
    assert shown(module_page, late)[-1] == "cat"


def test_a_slow_device_needs_as_many_frames_as_a_fast_one(module_page: Page):
    """At 4 frames/s the 500 ms window holds 3 frames, and a run of 3 odd ones would be an answer:
    the evidence stretches to the last 5 frames (1 s at most), where runs of 3 stay mixed."""
    at_4_fps = [(label, i * 250.0) for i, label in enumerate((["dog"] * 3 + ["neither"] * 3) * 5)]
    answers = shown(module_page, at_4_fps)
    assert set(answers[6:]) == {"unsure"}, answers
    # After more than a second without a frame, the old ones are gone.
    assert shown(module_page, [*at_4_fps[:3], ("cat", 500.0 + 1001.0)])[-1] == "cat"


def test_a_reset_forgets_the_frames_before_it(module_page: Page):
    """Another camera, model or photo: its first frame is shown as it is."""
    answers = shown(module_page, at_30_fps(["dog"] * 10 + ["cat"]), reset_before=10)
    assert answers[-1] == "cat"


def mixed_video(frames: list[Path], destination: Path) -> Path:
    """One y4m video of one-frame videos of the same size, frame after frame: the camera then
    shows them in turn, looping."""
    headers = {video.read_bytes().split(b"\n", 1)[0] for video in frames}
    assert len(headers) == 1, headers  # one size, one rate
    body = b"".join(video.read_bytes().split(b"\n", 1)[1] for video in frames)
    destination.write_bytes(headers.pop() + b"\n" + body)
    return destination


def answers_over(page: Page, seconds: float) -> list[dict]:
    """Each camera frame's own answer and the answer shown after it, for `seconds`."""
    return page.evaluate(
        """async (seconds) => {
            const seen = [];
            let frames = catDogDebug.snapshot().frames;
            const end = performance.now() + seconds * 1000;
            while (performance.now() < end) {
                await new Promise((resolve) => setTimeout(resolve, 2));
                const state = catDogDebug.snapshot();
                if (state.frames === frames) continue;
                frames = state.frames;
                seen.push({ frame: state.last.frameLabel, shown: state.last.label });
            }
            return seen;
        }""",
        seconds,
    )


# Runs of uneven length, 23 frames in all: no classification rate keeps seeing one of the two.
RUNS = [3, 2, 2, 3, 4, 3, 2, 4]


@pytest.mark.slow
def test_a_camera_flickering_between_a_pet_and_something_else_says_not_sure(
    neither_export: NeitherExport, launch_chromium: Callable[..., Browser], tmp_path: Path
):
    pet, other = neither_export.pet_video, neither_export.other_video
    runs = [pet if i % 2 == 0 else other for i, run in enumerate(RUNS) for _ in range(run)]
    video = mixed_video(runs, tmp_path / "flicker.y4m")
    page = open_page(launch_chromium(video), f"{neither_export.page.url}?model={VARIANT}")
    wait_for_frames(page, 30)
    seen = answers_over(page, 3)
    frame_answers = [answer["frame"] for answer in seen]
    assert "neither" in frame_answers and len(set(frame_answers)) >= 2  # the frames do flicker
    changes = sum(a != b for a, b in itertools.pairwise(frame_answers))
    assert changes >= 10, frame_answers
    # The page says "not sure", and does not flicker with them.
    shown_answers = [answer["shown"] for answer in seen]
    assert shown_answers.count("unsure") >= 0.9 * len(shown_answers), shown_answers
    assert "neither" not in shown_answers, shown_answers


@pytest.mark.slow
def test_a_pet_with_a_few_odd_frames_keeps_its_answer(
    neither_export: NeitherExport, launch_chromium: Callable[..., Browser], tmp_path: Path
):
    """2 frames of something else in 23: the pet's answer stays, "No cat or dog" never shows."""
    pet, other = neither_export.pet_video, neither_export.other_video
    frames = [pet] * 23
    frames[7] = frames[18] = other
    video = mixed_video(frames, tmp_path / "pet.y4m")
    page = open_page(launch_chromium(video), f"{neither_export.page.url}?model={VARIANT}")
    wait_for_frames(page, 30)
    seen = answers_over(page, 3)
    frame_answers = [answer["frame"] for answer in seen]
    assert "neither" in frame_answers, frame_answers  # the odd frames were classified
    shown_answers = [answer["shown"] for answer in seen]
    assert "neither" not in shown_answers, shown_answers
    pet_answer = max(set(frame_answers), key=frame_answers.count)
    assert pet_answer != "neither"
    assert set(shown_answers) == {pet_answer}, shown_answers
