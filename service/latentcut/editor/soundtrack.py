"""A project's soundtrack as melt mixes it: where its beats and onsets fall (librosa), and what lanes that follow the music hear, in project frames.

melt renders the audio of the whole project (every audio track, with the volumes, mutes and mixes
MLT applies) or of one clip, mono at ``ANALYSIS_RATE``, to a temporary WAV; librosa finds the beats
(its dynamic-programming beat tracker over the onset strength) or the onsets (peaks of the onset
strength) in it. A time ``t`` seconds into the render is project frame ``round(t * fps)``.

For lanes (``latentcut.timeline.lanes``), ``ProjectAudio`` gives a feature per project frame ``t``, over
the samples from ``t / fps`` to ``(t + 1) / fps`` seconds: ``loudness`` (their RMS level), ``band`` (the
RMS level of a frequency band: a Hann-windowed spectrum of those samples, summed over the band's bins)
or ``onsets`` (librosa's onset strength, its highest value in the frame); each scaled to 0..1 by its
largest value in the project, 0 past the audio's end.
"""

from __future__ import annotations

import tempfile
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.editor.mlt_module import mlt_environment
from latentcut.errors import InputError, RenderError
from latentcut.programs import run_melt

__all__ = [
    "ANALYSIS_RATE",
    "ProjectAudio",
    "Soundtrack",
    "beat_times",
    "frame_features",
    "frames_at",
    "onset_times",
    "rendered_soundtrack",
]

ANALYSIS_RATE = 22050
_HOP = 256  # 11.6 ms at the analysis rate: a quarter of a frame at 24-60 fps
_MELT_TIMEOUT_S = 3600
_SILENCE = 1e-4  # peak amplitude below which a render holds nothing to analyse


@dataclass(frozen=True)
class Soundtrack:
    """Mono float32 samples at ``rate`` Hz, from ``source`` (a project or a clip)."""

    samples: np.ndarray
    rate: int
    source: Path


def rendered_soundtrack(source: Path, *, cwd: Path | None = None) -> Soundtrack:
    """The audio melt plays for ``source`` (a project file or a media file), mixed to mono at ``ANALYSIS_RATE``."""
    with tempfile.TemporaryDirectory(prefix="latentcut-soundtrack-") as tmp:
        wav = Path(tmp) / "mix.wav"
        command = [
            "melt", str(source), "-consumer", f"avformat:{wav}", "vn=1", "acodec=pcm_s16le", f"ar={ANALYSIS_RATE}", "ac=1",
            "real_time=-1", "terminate_on_pause=1",
        ]  # fmt: skip
        try:
            done = run_melt(command, output=wav, cwd=cwd or source.parent, env=mlt_environment(), timeout_s=_MELT_TIMEOUT_S)
        except OSError as exc:
            raise RenderError(f"{source}: melt could not render its audio ({exc}); is melt installed (./install.sh)?") from exc
        if done.returncode != 0 or not wav.is_file():
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RenderError(f"{source}: melt could not render its audio ({last})")
        try:
            with wave.open(str(wav), "rb") as reader:
                raw = reader.readframes(reader.getnframes())
                rate = reader.getframerate()
        except (EOFError, wave.Error) as exc:
            raise RenderError(
                f"{source}: melt wrote an unreadable audio file ({exc or 'it is empty'}); run the command again"
            ) from exc
    samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    if not len(samples) or float(np.abs(samples).max()) < _SILENCE:
        raise InputError(f"{source}: melt plays no sound here; put the music on an audio track (or name a clip with sound)")
    return Soundtrack(samples, rate, source)


def _strength(track: Soundtrack) -> np.ndarray:
    import librosa

    return np.asarray(librosa.onset.onset_strength(y=track.samples, sr=track.rate, hop_length=_HOP), np.float64)


def beat_times(track: Soundtrack) -> np.ndarray:
    """Seconds of each beat, in order (librosa's beat tracker; weak beats at the ends are trimmed)."""
    import librosa

    _, beats = librosa.beat.beat_track(onset_envelope=_strength(track), sr=track.rate, hop_length=_HOP, units="time", trim=True)
    return np.asarray(beats, np.float64)


def onset_times(track: Soundtrack) -> np.ndarray:
    """Seconds of each onset (a note, a hit, a click), in order."""
    import librosa

    onsets = librosa.onset.onset_detect(onset_envelope=_strength(track), sr=track.rate, hop_length=_HOP, units="time")
    return np.asarray(onsets, np.float64)


def frames_at(seconds: np.ndarray, fps: Fraction) -> np.ndarray:
    """Project frames of times in seconds: the nearest frame start, each frame once."""
    return np.unique(np.rint(np.asarray(seconds, np.float64) * float(fps)).astype(np.int64))


def _frame_windows(track: Soundtrack, fps: Fraction, frames: int) -> list[np.ndarray]:
    """The samples of each project frame ``0 .. frames - 1`` (empty past the audio's end)."""
    edges = [int(t * track.rate * fps.denominator // fps.numerator) for t in range(frames + 1)]
    return [track.samples[edges[t] : edges[t + 1]] for t in range(frames)]


def frame_features(
    track: Soundtrack, feature: str, fps: Fraction, frames: int, band_hz: tuple[float, float] | None = None
) -> np.ndarray:
    """``feature`` (loudness, band, onsets) of ``track`` at each of ``frames`` project frames, 0..1 (see the module docstring)."""
    if feature == "onsets":
        strength = _strength(track)
        times = np.arange(len(strength)) * _HOP / track.rate
        slots = np.floor(times * float(fps)).astype(np.int64)
        values = np.zeros(frames)
        inside = slots < frames
        np.maximum.at(values, slots[inside], strength[inside])
    elif feature == "loudness":
        values = np.array(
            [
                float(np.sqrt(np.mean(np.square(w, dtype=np.float64)))) if len(w) else 0.0
                for w in _frame_windows(track, fps, frames)
            ]
        )
    elif feature == "band":
        if band_hz is None:
            raise InputError("a band feature needs its band (low and high Hz)")
        values = np.zeros(frames)
        for index, window in enumerate(_frame_windows(track, fps, frames)):
            if len(window) < 2:
                continue
            spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window)))) ** 2
            hz = np.fft.rfftfreq(len(window), 1.0 / track.rate)
            values[index] = float(np.sqrt(spectrum[(hz >= band_hz[0]) & (hz <= band_hz[1])].sum() / len(window)))
    else:
        raise InputError(f"audio feature {feature!r} is not loudness, band or onsets")
    peak = float(values.max(initial=0.0))
    return values / peak if peak > 0 else values


class ProjectAudio:
    """What lanes that follow the music hear (``latentcut.timeline.lanes.AudioFeatures``): ``project``'s audio as melt mixes it.

    melt renders it on the first question only, once; each feature is computed once.
    """

    def __init__(self, project: Path) -> None:
        self.project = project
        self._track: Soundtrack | None = None
        self._features: dict[tuple[str, tuple[float, float] | None, Fraction, int], np.ndarray] = {}

    def feature_frames(self, feature: str, band_hz: tuple[float, float] | None, fps: Fraction, frames: int) -> np.ndarray:
        key = (feature, band_hz, fps, frames)
        if key not in self._features:
            if self._track is None:
                self._track = rendered_soundtrack(self.project)
            self._features[key] = frame_features(self._track, feature, fps, frames, band_hz)
        return self._features[key]
