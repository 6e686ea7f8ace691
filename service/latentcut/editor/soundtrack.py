"""A project's soundtrack as melt mixes it, and where its beats and onsets fall (librosa), in project frames.

melt renders the audio of the whole project (every audio track, with the volumes, mutes and mixes
MLT applies) or of one clip, mono at ``ANALYSIS_RATE``, to a temporary WAV; librosa finds the beats
(its dynamic-programming beat tracker over the onset strength) or the onsets (peaks of the onset
strength) in it. A time ``t`` seconds into the render is project frame ``round(t * fps)``.
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

__all__ = ["ANALYSIS_RATE", "Soundtrack", "beat_times", "frames_at", "onset_times", "rendered_soundtrack"]

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
