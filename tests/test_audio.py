"""Tests for offline speech synthesis (eSpeak NG via espeakng-loader) and WAV measuring."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import threading
import wave
from pathlib import Path

import pytest

from dronepatrol.audio import AudioClip, available_languages, read_clip, synthesize
from dronepatrol.errors import AudioError

pytest.importorskip("espeakng_loader")

MANDARIN = "请您和家人立即返回家中"
ENGLISH = "Please stay at home with your family."


def _wav_stats(path: Path) -> tuple[int, int, int, float, float]:
    """(channels, sample width, rate, duration_s, rms) read independently with ``wave``."""
    with wave.open(str(path), "rb") as w:
        channels, width, rate, n = (
            w.getnchannels(),
            w.getsampwidth(),
            w.getframerate(),
            w.getnframes(),
        )
        raw = w.readframes(n)
    samples = struct.unpack(f"<{n}h", raw)
    rms = math.sqrt(sum(s * s for s in samples) / n) if n else 0.0
    return channels, width, rate, n / rate, rms


@pytest.mark.parametrize(("text", "language"), [(MANDARIN, "cmn"), (ENGLISH, "en")])
def test_synthesize_writes_audible_16bit_mono_wav(text: str, language: str, tmp_path: Path) -> None:
    out = tmp_path / f"{language}.wav"
    clip = synthesize(text, language=language, out_path=out)
    channels, width, rate, duration, rms = _wav_stats(out)
    assert (channels, width) == (1, 2)
    assert clip.path == out and clip.text == text and clip.language == language
    assert clip.sample_rate_hz == rate
    assert clip.duration_s == pytest.approx(duration, abs=1e-9)
    assert 0.5 < clip.duration_s < 15.0
    assert rms > 300.0  # full scale is 32767; silence would be ~0


def test_mandarin_message_has_plausible_duration(tmp_path: Path) -> None:
    clip = synthesize(MANDARIN, out_path=tmp_path / "m.wav")  # Mandarin is the default
    assert clip.language == "cmn"
    # 11 syllables: between 1.5 and 8 seconds at a normal speaking rate.
    assert 1.5 < clip.duration_s < 8.0


@pytest.mark.parametrize(("text", "language"), [(MANDARIN, "cmn"), (ENGLISH, "en")])
def test_duration_scales_with_text_length(text: str, language: str, tmp_path: Path) -> None:
    one = synthesize(text, language=language, out_path=tmp_path / "one.wav")
    three = synthesize(" ".join([text] * 3), language=language, out_path=tmp_path / "three.wav")
    assert three.duration_s > 2.0 * one.duration_s


def test_slower_rate_gives_longer_clip(tmp_path: Path) -> None:
    slow = synthesize(ENGLISH, language="en", out_path=tmp_path / "s.wav", rate_wpm=100)
    fast = synthesize(ENGLISH, language="en", out_path=tmp_path / "f.wav", rate_wpm=300)
    default = synthesize(ENGLISH, language="en", out_path=tmp_path / "d.wav")
    assert slow.duration_s > default.duration_s > fast.duration_s


@pytest.mark.parametrize("code", ["zh", "zh-CN", "ZH_cn", "zh-Hans", "cmn"])
def test_chinese_codes_map_to_espeak_mandarin(code: str, tmp_path: Path) -> None:
    clip = synthesize(MANDARIN, language=code, out_path=tmp_path / "z.wav")
    reference = synthesize(MANDARIN, language="cmn", out_path=tmp_path / "ref.wav")
    assert clip.language == "cmn"
    assert clip.duration_s == pytest.approx(reference.duration_s, rel=0.01)


def test_available_languages_include_mandarin_and_english() -> None:
    langs = available_languages()
    assert {"cmn", "zh", "en", "en-us"} <= set(langs)
    assert list(langs) == sorted(langs)


@pytest.mark.parametrize("language", ["xx-klingon", "english", "zh-XX"])
def test_unknown_language_lists_close_voices(language: str, tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"no eSpeak NG voice.*close available languages: \w"):
        synthesize("hello", language=language, out_path=tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_unknown_english_variant_suggests_english(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"en-us"):
        synthesize("hello", language="en-xx", out_path=tmp_path / "x.wav")


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_is_rejected(text: str, tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="empty"):
        synthesize(text, language="en", out_path=tmp_path / "x.wav")


@pytest.mark.parametrize("rate", [10, 1000, True])
def test_bad_rate_is_rejected(rate: int, tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="rate_wpm"):
        synthesize("hello", language="en", out_path=tmp_path / "x.wav", rate_wpm=rate)


def test_unwritable_path_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "x.wav"
    with pytest.raises(AudioError, match="missing-folder"):
        synthesize("hello", language="en", out_path=target)


def test_read_clip_measures_a_user_wav(tmp_path: Path) -> None:
    path = tmp_path / "user.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 2 * 12000)  # 12000 stereo frames = 1.5 s
    clip = read_clip(path)
    assert clip == AudioClip(path=path, sample_rate_hz=8000, duration_s=1.5)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"ID3\x03\x00 this is an mp3, not a wav", "cannot read .*as a WAV"),
        (b"", "cannot read .*as a WAV"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cannot read .*as a WAV"),
    ],
)
def test_read_clip_rejects_non_wav(content: bytes, match: str, tmp_path: Path) -> None:
    path = tmp_path / "message.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=match) as info:
        read_clip(path)
    assert "ffmpeg" in str(info.value)


def test_read_clip_rejects_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        read_clip(tmp_path / "nope.wav")
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    with pytest.raises(AudioError, match="holds no audio"):
        read_clip(empty)
    with pytest.raises(AudioError, match="cannot read"):
        read_clip(tmp_path)  # a directory


def test_concurrent_synthesis_is_serialised_and_correct(tmp_path: Path) -> None:
    expected = synthesize(ENGLISH, language="en", out_path=tmp_path / "ref.wav").duration_s
    results: dict[int, float] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            lang = "en" if i % 2 == 0 else "cmn"
            text = ENGLISH if lang == "en" else MANDARIN
            clip = synthesize(text, language=lang, out_path=tmp_path / f"t{i}.wav")
            results[i] = clip.duration_s
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # eSpeak NG's output jitters by about a millisecond between runs; interleaved samples
    # from two threads would change the duration by far more.
    for i in range(0, 6, 2):
        assert results[i] == pytest.approx(expected, rel=0.01)
    mandarin = [results[i] for i in range(1, 6, 2)]
    assert max(mandarin) - min(mandarin) < 0.01 * min(mandarin)
    for i in range(6):
        assert _wav_stats(tmp_path / f"t{i}.wav")[4] > 300.0


def test_import_has_no_side_effects() -> None:
    code = (
        "import sys, dronepatrol.audio as a; "
        "assert a._ENGINE is None; "
        "assert not any('espeakng' in m for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
