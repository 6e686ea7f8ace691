import numpy as np
import pytest

from latentcut.errors import UsageError
from latentcut.latent.journey import chained_latents, journey_latents, keyframes_from_indices
from latentcut.latent.sampling import gaussian_latents


@pytest.mark.parametrize("interpolation", ["lerp", "slerp", "spring"])
def test_journey_has_keyframes_at_segment_boundaries(interpolation):
    keys = gaussian_latents(3, 32, 1)
    path = journey_latents(keys, 10, interpolation)
    assert path.shape == (21, 32) and path.dtype == np.float32
    for i in range(3):
        np.testing.assert_allclose(path[i * 10], keys[i], atol=1e-5)


def test_keyframes_from_indices_reads_rows_and_rejects_out_of_range():
    seq = gaussian_latents(10, 4, 2)
    np.testing.assert_array_equal(keyframes_from_indices(seq, [0, 9, -1]), seq[[0, 9, 9]])
    with pytest.raises(UsageError, match="outside"):
        keyframes_from_indices(seq, [10])


def test_chain_joins_journeys_without_repeating_the_shared_frame():
    keys = gaussian_latents(4, 16, 3)
    first = journey_latents(keys[:2], 5, "slerp")
    second = journey_latents(np.stack([first[-1], keys[2], keys[3]]), 5, "slerp")
    chain = chained_latents([first, second])
    assert len(chain) == len(first) + len(second) - 1
    np.testing.assert_array_equal(chain[: len(first)], first)


def test_chain_refuses_journeys_that_do_not_meet():
    keys = gaussian_latents(4, 16, 4)
    with pytest.raises(ValueError, match="does not start"):
        chained_latents([journey_latents(keys[:2], 3), journey_latents(keys[2:], 3)])


def test_unknown_interpolation_is_a_value_error():
    with pytest.raises(ValueError, match="cubic"):
        journey_latents(gaussian_latents(2, 4, 1), 3, "cubic")
