"""The multi-view Conv1d combiner and stack_views."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cleora_tensor import Embedding  # noqa: E402
from cleora_tensor.nn import MultiViewConv1d, stack_views  # noqa: E402


def view(ids, vectors, type_="item"):
    vectors = np.asarray(vectors, np.float32)
    return Embedding(list(ids), np.full(len(ids), type_), vectors, np.ones(len(ids)), np.ones(len(ids), np.int64))


def test_output_shapes_and_parameter_count():
    module = MultiViewConv1d(n_views=3, out_channels=2, kernel_size=3)
    assert module(torch.randn(5, 3, 16)).shape == (5, 32)
    assert sum(p.numel() for p in module.parameters()) == 3 * 2 * 3 + 2


def test_kernel_one_is_a_weighted_sum_of_views():
    module = MultiViewConv1d(n_views=2, bias=False)
    with torch.no_grad():
        module.conv.weight.copy_(torch.tensor([[[0.25], [0.75]]]))
    x = torch.randn(4, 2, 8)
    torch.testing.assert_close(module(x), 0.25 * x[:, 0] + 0.75 * x[:, 1])


def test_same_padding_mixes_neighbouring_dimensions():
    module = MultiViewConv1d(n_views=1, kernel_size=3, bias=False)
    with torch.no_grad():
        module.conv.weight.copy_(torch.tensor([[[1.0, 0.0, 0.0]]]))  # output j = input j - 1
    x = torch.arange(5.0).view(1, 1, 5)
    torch.testing.assert_close(module(x), torch.tensor([[0.0, 0.0, 1.0, 2.0, 3.0]]))


def test_mask_ignores_missing_views_and_rescales():
    module = MultiViewConv1d(n_views=2, bias=False)
    with torch.no_grad():
        module.conv.weight.fill_(0.5)
    x = torch.stack([torch.ones(1, 4), torch.full((1, 4), 100.0)], dim=1)
    mask = torch.tensor([[True, False]])
    # Only view 0 counts, rescaled by 2 / 1: 0.5 * 1 * 2 = 1.
    torch.testing.assert_close(module(x, mask), torch.ones(1, 4))


def test_gradients_state_dict_and_device_moves():
    module = MultiViewConv1d(n_views=3, out_channels=2, kernel_size=3)
    x = torch.randn(6, 3, 10, requires_grad=True)
    module(x).pow(2).sum().backward()
    assert module.conv.weight.grad is not None and x.grad.shape == x.shape
    clone = MultiViewConv1d(n_views=3, out_channels=2, kernel_size=3)
    clone.load_state_dict(module.state_dict())
    torch.testing.assert_close(clone(x.detach()), module(x.detach()))
    moved = module.to(torch.float64)
    assert moved(x.detach().double()).dtype == torch.float64


def test_cuda_move():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    module = MultiViewConv1d(n_views=2).to("cuda")
    assert module(torch.randn(2, 2, 4, device="cuda")).is_cuda


def test_torch_compile_captures_one_graph_and_export_works():
    module = MultiViewConv1d(n_views=2, kernel_size=3)
    x = torch.randn(3, 2, 8)
    mask = torch.tensor([[True, True], [True, False], [False, True]])
    # fullgraph=True fails on any graph break; the eager backend skips code generation.
    compiled = torch.compile(module, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x, mask), module(x, mask))
    exported = torch.export.export(module, (x, mask))
    torch.testing.assert_close(exported.module()(x, mask), module(x, mask))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="odd"):
        MultiViewConv1d(2, kernel_size=2)
    with pytest.raises(ValueError, match="shape"):
        MultiViewConv1d(2)(torch.randn(3, 4, 5))


def test_stack_views_aligns_by_id_and_masks_missing():
    a = view(["x", "y", "z"], np.arange(6).reshape(3, 2))
    b = view(["z", "x"], [[10, 11], [12, 13]])
    x, mask = stack_views([a, b], ["z", "w", "x"])
    assert x.shape == (3, 2, 2) and x.dtype == torch.float32
    assert mask.tolist() == [[True, True], [False, False], [True, True]]
    torch.testing.assert_close(x[0], torch.tensor([[4.0, 5.0], [10.0, 11.0]]))
    torch.testing.assert_close(x[1], torch.zeros(2, 2))
    torch.testing.assert_close(x[2], torch.tensor([[0.0, 1.0], [12.0, 13.0]]))


def test_stack_views_rejects_mixed_dimensions():
    with pytest.raises(ValueError, match="same dimension"):
        stack_views([view(["x"], [[1, 2]]), view(["x"], [[1, 2, 3]])], ["x"])
    with pytest.raises(ValueError, match="empty"):
        stack_views([], ["x"])


def test_stack_views_from_torch_vectors():
    a = view(["x", "y"], [[1, 2], [3, 4]])
    a.vectors = torch.as_tensor(a.vectors)
    x, mask = stack_views([a], ["y"])
    torch.testing.assert_close(x, torch.tensor([[[3.0, 4.0]]]))
