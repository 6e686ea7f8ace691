"""The exception tree of latentcut: every error a user can cause is one of these.

    LatentcutError              root; ``exit_code`` is what the CLI exits with
    ├── UsageError              a bad argument or option value (exit 2); also a ValueError
    ├── InputError              a file or value the user gave cannot be used (exit 1)
    │   ├── SidecarError        a z-sequence or its .z.json is missing, corrupt or mismatched
    │   ├── ModelError          a model spec cannot be loaded or does not fit the latents
    │   ├── ProjectError        an editor's project file cannot be read or makes no sense as a timeline
    │   └── ConformError        a timeline cannot be turned into latents as asked
    ├── RenderError             generating or encoding frames failed
    │   └── EncodeError         ffmpeg failed or wrote something other than what was sent
    ├── MltError                MLT (melt, the latent module, its profiles) cannot do what was asked
    ├── ProgramHung             an external program (melt, ffmpeg, ...) made no progress or overran its time, and was stopped
    │   └── ProgramLost         it showed it never will do its work (a melt whose consumer lost its start)
    └── DaemonError             talking to a render daemon failed (or a peer sent something it must not)
        ├── ProtocolError       a message that is not a well-formed latentcut message of this version
        ├── TransportError      a socket cannot be bound or connected as asked
        │   └── DaemonUnavailable   the daemon did not answer in time
        └── JobRejected         the daemon answered a request with an error

The command line maps exactly this tree to exit codes; any other exception is a bug in latentcut.
Every message names the file involved and what to do about it, on one line.
"""

from __future__ import annotations

__all__ = [
    "ConformError",
    "DaemonError",
    "DaemonUnavailable",
    "EncodeError",
    "InputError",
    "JobRejected",
    "LatentcutError",
    "MltError",
    "ModelError",
    "ProgramHung",
    "ProgramLost",
    "ProjectError",
    "ProtocolError",
    "RenderError",
    "SidecarError",
    "TransportError",
    "UsageError",
    "failure_line",
    "one_line",
]


class LatentcutError(Exception):
    """Root of all errors latentcut raises on purpose."""

    exit_code = 1


class UsageError(LatentcutError, ValueError):
    """A command-line argument or option value is not acceptable (a ValueError too, for library callers)."""

    exit_code = 2


class InputError(LatentcutError):
    """A file or value the user gave cannot be used; the message says which and what to do."""


class SidecarError(InputError):
    """A z-sequence file or its metadata is missing, corrupt or does not match."""


class ModelError(InputError):
    """A model cannot be loaded, or it does not fit the latents it is given."""


class ProjectError(InputError):
    """An editor's project file cannot be read, or makes no sense as a timeline."""


class ConformError(InputError):
    """A timeline cannot be turned into latents as asked (no latent clip at all, gaps under --gaps error)."""


class RenderError(LatentcutError):
    """Turning latents into frames or a video failed."""


class EncodeError(RenderError):
    """ffmpeg failed, or the file it wrote is not what was sent to it."""


class MltError(LatentcutError):
    """MLT (melt, the ``latent`` module or its profiles) is missing or cannot do what was asked."""


class ProgramHung(LatentcutError):
    """An external program (melt, ffmpeg, Kdenlive, ...) wrote nothing for too long, or ran past its limit, and was stopped."""


class ProgramLost(ProgramHung):
    """An external program showed that it never will do its work (a melt whose consumer lost its start), and was stopped."""


class DaemonError(LatentcutError):
    """Talking to a render daemon failed, or a peer sent what it must not."""


class ProtocolError(DaemonError):
    """A message that is not a well-formed latentcut message of this version."""


class TransportError(DaemonError):
    """A socket cannot be bound or connected as asked."""


class DaemonUnavailable(TransportError):
    """The daemon did not answer in time."""


class JobRejected(DaemonError):
    """The daemon answered a request with an error."""


def one_line(text: object, limit: int = 200) -> str:
    """``text`` (an exception, a value quoted from a file) as one line of at most ``limit`` characters.

    Messages quote what a hostile or broken file holds, and torch and numpy write multi-line,
    kilobyte-long exception texts; a latentcut message stays one line.
    """
    flat = " ".join(str(text).split()) or (type(text).__name__ if isinstance(text, BaseException) else "")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def failure_line(exc: BaseException) -> str:
    """Why a job, a preview or a range failed, in one line: latentcut's own message, else the exception's type and text."""
    text = one_line(str(exc), 500)
    if isinstance(exc, MemoryError):
        return f"out of memory{': ' + text if text else ''}"
    if isinstance(exc, LatentcutError):
        return text or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.strerror:  # a file the system refused: which, and why
        return one_line(f"{exc.filename}: {exc.strerror}", 500)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
