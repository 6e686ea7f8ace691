"""The names of a daemon's own renderers, one per device, as done_by and status show them."""

from latentcut.daemon.messages import WORKER_NAME
from latentcut.daemon.renderers import renderer_names


def test_one_device_is_local_and_several_are_named_for_their_device():
    assert renderer_names([None]) == renderer_names(["cuda:1"]) == ("local",)
    assert renderer_names(["cuda:0", "cuda:1"]) == ("local:cuda:0", "local:cuda:1")
    names = renderer_names(["cuda:0", "cpu", "cuda:0"])
    assert names == ("local:cuda:0.1", "local:cpu", "local:cuda:0.2")
    assert all(WORKER_NAME.fullmatch(name) for name in names)
