"""One line for any failure: latentcut's own message, else the exception's type and text."""

from latentcut.errors import RenderError, failure_line


def test_a_failure_is_one_line_and_never_repeats_or_loses_its_type():
    assert failure_line(RenderError("frame 3:\n  the model\tgave NaN")) == "frame 3: the model gave NaN"
    assert failure_line(ValueError("bad\nvalue")) == "ValueError: bad value"
    assert failure_line(ValueError()) == "ValueError"
    assert failure_line(RenderError()) == "RenderError"
    assert failure_line(MemoryError()) == "out of memory"
    assert failure_line(MemoryError("CUDA out of memory. Tried 2 GiB")) == "out of memory: CUDA out of memory. Tried 2 GiB"
    assert len(failure_line(KeyError("x" * 2000))) <= len("KeyError: ") + 500
