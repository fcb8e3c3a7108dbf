"""Spoken audio rendered offline with eSpeak NG, and WAV clips measured.

The speech engine is ``libespeak-ng`` from the ``espeakng-loader`` wheel (library and voice
data inside the wheel, nothing to install system-wide), driven through :mod:`ctypes` in
synchronous mode: samples come back through a callback and are written as a 16-bit mono
WAV at the engine's sample rate (22050 Hz) with the stdlib :mod:`wave` module.

The engine is loaded on first use (importing this module does nothing) and, having global
state, is used under a lock: concurrent :func:`synthesize` calls are serialised.

Language codes are BCP-47-like and case-insensitive: ``"cmn"``, ``"zh"``, ``"zh-CN"`` and
``"zh-Hans"`` all mean eSpeak's Mandarin voice ``cmn``; ``"en"`` is British English,
``"en-us"`` American English; see :func:`available_languages`.
"""

from __future__ import annotations

import ctypes
import difflib
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

from dronepatrol.errors import AudioError

__all__ = ["AudioClip", "available_languages", "read_clip", "synthesize"]

#: Aliases for codes eSpeak does not list itself.
_LANGUAGE_ALIASES = {
    "zh": "cmn",
    "zh-cn": "cmn",
    "zh-hans": "cmn",
    "zh-hans-cn": "cmn",
    "zh-sg": "cmn",
    "zh-tw": "cmn",
    "zh-hant": "cmn",
    "mandarin": "cmn",
    "zh-hk": "yue",
    "cantonese": "yue",
}

_MIN_RATE_WPM = 80
_MAX_RATE_WPM = 450
_DEFAULT_RATE_WPM = 175  # espeakRATE_NORMAL

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_EE_OK = 0


@dataclass(frozen=True, kw_only=True)
class AudioClip:
    """A WAV file and what was measured from it.

    ``duration_s`` is frames / sample rate, read from the file. ``text`` and ``language``
    are set for synthesized clips (``language`` is the eSpeak code used, e.g. ``"cmn"``)
    and ``None`` for a user's recording.
    """

    path: Path
    sample_rate_hz: int
    duration_s: float
    text: str | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        if self.sample_rate_hz <= 0:
            raise AudioError(f"AudioClip {self.path}: sample_rate_hz={self.sample_rate_hz} <= 0")
        if not self.duration_s > 0.0:
            raise AudioError(f"AudioClip {self.path}: duration_s={self.duration_s!r} must be > 0")


def read_clip(path: str | Path) -> AudioClip:
    """Measure a PCM WAV file; :class:`AudioError` if it is missing, not WAV or empty."""
    p = Path(path)
    fix = (
        "give a PCM WAV file (convert with e.g. `ffmpeg -i message.mp3 -ac 1 "
        "-c:a pcm_s16le message.wav`)"
    )
    try:
        with wave.open(str(p), "rb") as w:
            frames = w.getnframes()
            rate = w.getframerate()
    except FileNotFoundError:
        raise AudioError(f"audio file {p} does not exist; check the path") from None
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioError(f"cannot read {p} as a WAV file ({exc}); {fix}") from None
    if frames <= 0 or rate <= 0:
        raise AudioError(f"WAV file {p} holds no audio ({frames} frames at {rate} Hz); {fix}")
    return AudioClip(path=p, sample_rate_hz=rate, duration_s=frames / rate)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class _VoiceInfo:
    identifier: str
    languages: tuple[tuple[int, str], ...]  # (priority, code), lower priority is preferred


class _Engine:
    """The process-wide libespeak-ng instance. Use only while holding ``_LOCK``."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise AudioError(
                "speech synthesis needs the espeakng-loader package; "
                "run `pip install espeakng-loader`"
            ) from None
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise AudioError(
                f"cannot load libespeak-ng from espeakng-loader ({exc}); "
                "reinstall it with `pip install --force-reinstall espeakng-loader`"
            ) from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise AudioError(
                f"eSpeak NG failed to initialise with data at {data} (code {rate}); "
                "reinstall espeakng-loader"
            )
        self.lib = lib
        self.sample_rate_hz = int(rate)
        self._chunks: list[bytes] = []
        self._callback = _SynthCallback(self._collect)  # keep a reference: C holds a pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.voices = self._list_voices()

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], n: int, _events: int) -> int:
        if wav and n > 0:
            self._chunks.append(ctypes.string_at(wav, n * 2))
        return 0  # continue

    def _list_voices(self) -> tuple[_VoiceInfo, ...]:
        found: list[_VoiceInfo] = []
        table = self.lib.espeak_ListVoices(None)
        i = 0
        while table[i]:
            v = table[i].contents
            langs: list[tuple[int, str]] = []
            p = v.languages
            # "languages" is a run of (priority byte, NUL-terminated code), ended by a 0 byte.
            while p is not None:
                priority = ctypes.string_at(p, 1)[0]
                if priority == 0:
                    break
                code = ctypes.string_at(p + 1)
                langs.append((priority, code.decode("ascii", "replace").lower()))
                p += len(code) + 2
            if v.identifier:
                found.append(_VoiceInfo(v.identifier.decode("ascii", "replace"), tuple(langs)))
            i += 1
        return tuple(found)

    def resolve(self, language: str) -> tuple[str, str]:
        """``(voice identifier, espeak language code)`` for a user's language code."""
        code = language.strip().lower().replace("_", "-")
        code = _LANGUAGE_ALIASES.get(code, code)
        for v in self.voices:  # exact voice file name first: "en" -> gmw/en
            if v.identifier.rsplit("/", 1)[-1].lower() == code:
                return v.identifier, code
        best: tuple[int, str] | None = None
        for v in self.voices:
            for priority, lang in v.languages:
                if lang == code and (best is None or priority < best[0]):
                    best = (priority, v.identifier)
        if best is not None:
            return best[1], code
        codes = sorted(
            {lang for v in self.voices for _, lang in v.languages} | set(_LANGUAGE_ALIASES)
        )
        close = difflib.get_close_matches(code, codes, n=6, cutoff=0.5)
        prefix = [c for c in codes if c.split("-")[0] == code.split("-")[0]][:6]
        suggestions = list(dict.fromkeys(prefix + close)) or codes[:12]
        raise AudioError(
            f"no eSpeak NG voice for language {language!r}; close available languages: "
            f"{', '.join(suggestions)} (all: dronepatrol.audio.available_languages())"
        )

    def render(self, text: str, voice: str, rate_wpm: int) -> bytes:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise AudioError(f"eSpeak NG could not load voice {voice!r}; reinstall espeakng-loader")
        self.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
        data = text.encode("utf-8")
        self._chunks = []
        try:
            code = self.lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self.lib.espeak_Synchronize()
            if code != _EE_OK:
                raise AudioError(f"eSpeak NG failed to synthesise the text (code {code})")
            return b"".join(self._chunks)
        finally:
            self._chunks = []


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    """The engine, created on first use. Call with ``_LOCK`` held."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


def available_languages() -> tuple[str, ...]:
    """Language codes the bundled eSpeak NG voices accept (plus aliases such as ``zh``)."""
    with _LOCK:
        voices = _engine().voices
    return tuple(sorted({lang for v in voices for _, lang in v.languages} | set(_LANGUAGE_ALIASES)))


def synthesize(
    text: str,
    *,
    language: str = "cmn",
    out_path: str | Path,
    rate_wpm: int | None = None,
) -> AudioClip:
    """Speak ``text`` into a 16-bit mono WAV at ``out_path``; the clip is measured back.

    ``rate_wpm`` is eSpeak's speaking rate (80-450 words per minute, default 175).
    Raises :class:`AudioError` for empty text, an unknown language (listing close ones), a
    bad rate or an unwritable path.
    """
    if not isinstance(text, str) or not text.strip():
        raise AudioError(f"synthesize: text={text!r} is empty; give the message to speak")
    if not isinstance(language, str) or not language.strip():
        raise AudioError(f"synthesize: language={language!r} is empty; give e.g. 'cmn' or 'en'")
    if rate_wpm is None:
        rate = _DEFAULT_RATE_WPM
    elif isinstance(rate_wpm, bool) or not isinstance(rate_wpm, int):
        raise AudioError(f"synthesize: rate_wpm={rate_wpm!r} must be an integer words/minute")
    elif not _MIN_RATE_WPM <= rate_wpm <= _MAX_RATE_WPM:
        raise AudioError(
            f"synthesize: rate_wpm={rate_wpm} is outside [{_MIN_RATE_WPM}, {_MAX_RATE_WPM}]"
        )
    else:
        rate = rate_wpm
    out = Path(out_path)
    with _LOCK:
        engine = _engine()
        voice, code = engine.resolve(language)
        pcm = engine.render(text, voice, rate)
        sample_rate = engine.sample_rate_hz
    if not pcm:
        raise AudioError(
            f"synthesize: eSpeak NG produced no audio for {text!r} in {code!r}; "
            "check the text is in that language"
        )
    try:
        with open(out, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(pcm)
    except OSError as exc:
        raise AudioError(
            f"synthesize: cannot write {out} ({exc.strerror or exc}); "
            "check the folder exists and is writable"
        ) from None
    clip = read_clip(out)
    return AudioClip(
        path=clip.path,
        sample_rate_hz=clip.sample_rate_hz,
        duration_s=clip.duration_s,
        text=text,
        language=code,
    )
