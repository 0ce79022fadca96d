"""Convolutional encoder / decoder / autoencoder: shapes, errors, save/load, and learning on real MNIST."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fewlabel
from fewlabel.errors import InputError
from fewlabel.nets.conv import ConvAutoencoderNet, ConvDecoder, ConvEncoder, stage_sizes


def test_default_on_mnist_shape():
    enc, dec = ConvEncoder((28, 28)), ConvDecoder((28, 28))
    x = torch.rand(5, 28, 28)
    code = enc(x)
    assert code.shape == (5, 64, 3, 3)
    assert enc.feature_map_shape == (64, 3, 3) and enc.code_size == 576 and enc.pooled_size == 64
    assert enc.sizes == [(28, 28), (14, 14), (7, 7), (3, 3)]
    pooled = enc.pool(code)
    assert pooled.shape == (5, 64)
    torch.testing.assert_close(pooled, code.mean(dim=(2, 3)))
    assert dec(code).shape == (5, 28, 28)
    net = ConvAutoencoderNet((28, 28))
    assert net(x).shape == (5, 28, 28) and net.code_vector(x).shape == (5, 576)
    assert net.code_vector(x, pooled=True).shape == (5, 64)
    with torch.no_grad():
        out = net(x)
    assert float(out.min()) >= 0 and float(out.max()) <= 1  # sigmoid applied by decode, not by the decoder
    torch.testing.assert_close(out, torch.sigmoid(net.decode_logits(net.encode(x))))


@pytest.mark.parametrize("shape, channels, latent, batch_norm", [
    ((32, 32, 3), (4, 8), None, False),
    ((32, 32, 3), (4, 8, 8, 8), 10, True),
    ((96, 96, 3), (4, 8), 10, False),
    ((96, 96, 3), (4, 8, 8, 8), None, True),
    ((27, 31), (4, 8), None, True),
    ((27, 31), (4, 8, 8, 8), 10, False),
    ((27, 31), (4, 8, 8, 8), None, False),  # 27x31 -> 13x15 -> 6x7 -> 3x3 -> 1x1
    ((28, 28, 1), (4, 8), 10, True),
])
def test_shapes_round_trip(shape, channels, latent, batch_norm):
    torch.manual_seed(0)
    net = ConvAutoencoderNet(shape, channels=channels, latent=latent, batch_norm=batch_norm)
    x = torch.rand(3, *shape)
    z = net.encode(x)
    h, w = stage_sizes(shape, len(channels))[-1]
    if latent is None:
        assert z.shape == (3, channels[-1], h, w) and net.code_size == channels[-1] * h * w
    else:
        assert z.shape == (3, latent) and net.code_size == latent
    assert net.code_vector(x).shape == (3, net.code_size)
    logits = net.decode_logits(z)
    assert logits.shape == (3, *shape)
    assert net(x).shape == (3, *shape)
    # a decoder built separately from the same arguments accepts the encoder's codes
    dec = ConvDecoder(shape, channels=channels, latent=latent, batch_norm=batch_norm)
    assert dec(z).shape == (3, *shape)
    logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_channels_last_layout_is_respected():
    # each output channel of a 1x1 identity-like conv must land at the same (h, w, c) place it came from
    enc = ConvEncoder((4, 6, 3), channels=(3,), kernel_size=1, activation="linear")
    with torch.no_grad():
        enc.stages[0][0].weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
        enc.stages[0][0].bias.zero_()
    x = torch.rand(2, 4, 6, 3)
    expected = F.max_pool2d(x.permute(0, 3, 1, 2), 2)
    torch.testing.assert_close(enc(x), expected)


@pytest.mark.parametrize("shape", [(28, 28), (32, 32), (96, 96), (27, 27), (27, 31), (31, 27), (13, 40, 2)])
def test_transposed_convs_restore_each_pre_pool_size(shape):
    dec = ConvDecoder(shape, channels=(2, 2, 2))
    sizes = stage_sizes(shape, 3)
    fmap = torch.rand(1, *dec.feature_map_shape)
    seen = []
    for stage in dec.stages:
        fmap = stage(fmap)
        seen.append(tuple(fmap.shape[2:]))
    assert seen == list(reversed(sizes[:-1]))


def test_too_small_image_raises_helpful_error():
    with pytest.raises(InputError, match=r"too small for 4 stages.*5x5 -> 2x2 -> 1x1 -> 0x0.*at most 2 stage"):
        ConvEncoder((5, 5), channels=(4, 4, 4, 4))
    with pytest.raises(InputError, match="too small"):
        ConvDecoder((28, 3), channels=(4, 4))
    with pytest.raises(InputError, match="too small"):
        ConvAutoencoderNet((8, 8, 3), channels=(4, 4, 4, 4))
    ConvEncoder((8, 8, 3), channels=(4, 4, 4))  # exactly fits: 8 -> 4 -> 2 -> 1


def test_bad_arguments_and_inputs_raise_input_error():
    enc = ConvEncoder((28, 28))
    with pytest.raises(InputError, match=r"expected inputs of shape \(N, 28, 28\), got \(2, 28, 27\)"):
        enc(torch.rand(2, 28, 27))
    with pytest.raises(InputError, match=r"\(N, 28, 28\), got \(2, 28, 28, 1\)"):
        enc(torch.rand(2, 28, 28, 1))
    with pytest.raises(InputError, match="float"):
        enc(torch.zeros(2, 28, 28, dtype=torch.uint8))
    with pytest.raises(InputError, match=r"expected codes of shape \(N, 64, 3, 3\)"):
        ConvDecoder((28, 28))(torch.rand(2, 64, 4, 4))
    with pytest.raises(InputError, match="cannot|no spatial"):
        ConvEncoder((28, 28), latent=8).pool(torch.rand(2, 8))
    with pytest.raises(InputError, match="no spatial"):
        ConvAutoencoderNet((28, 28), latent=8).code_vector(torch.rand(2, 28, 28), pooled=True)
    with pytest.raises(InputError, match="input_shape"):
        ConvEncoder((28,))
    with pytest.raises(InputError, match="input_shape"):
        ConvEncoder((28, 28, 1, 1))
    with pytest.raises(InputError, match="channels"):
        ConvEncoder((28, 28), channels=())
    with pytest.raises(InputError, match="kernel_size"):
        ConvEncoder((28, 28), kernel_size=4)
    with pytest.raises(InputError, match="latent"):
        ConvDecoder((28, 28), latent=0)
    with pytest.raises(InputError, match="unknown activation"):
        ConvAutoencoderNet((28, 28), activation="swishy")
    with pytest.raises(InputError, match="unknown activation"):
        ConvAutoencoderNet((28, 28), output_activation="softmaxx")


@pytest.mark.parametrize("latent", [None, 6])
def test_save_load_rebuilds_each_module(tmp_path, latent):
    torch.manual_seed(0)
    shape, kw = (20, 18, 3), dict(channels=(4, 8), batch_norm=True, activation="tanh", latent=latent)
    enc = ConvEncoder(shape, latent_activation="relu", **kw)
    dec = ConvDecoder(shape, **kw)
    net = ConvAutoencoderNet(shape, output_activation="linear", **kw)
    x = torch.rand(4, *shape)
    for m in (enc, net):  # move the batch-norm running statistics away from their initial values
        m.train()(x)
    dec.train()(enc(x).detach())
    for name, module, inp in [("enc", enc, x), ("dec", dec, enc.eval()(x).detach()), ("net", net, x)]:
        module.eval()
        again = fewlabel.load(fewlabel.save(module, tmp_path / name))
        assert type(again) is type(module) and again.config() == module.config()
        assert not again.training
        with torch.no_grad():
            assert torch.equal(again(inp), module(inp))
    assert torch.equal(again.code_vector(x), net.code_vector(x))
    assert again.output_activation == "linear"


def test_trains_on_real_mnist(mnist_small):
    X, _, Xt, _ = mnist_small
    x = torch.from_numpy(X[:1000].astype(np.float32) / 255)
    xt = torch.from_numpy(Xt.astype(np.float32) / 255)
    torch.manual_seed(0)
    net = ConvAutoencoderNet((28, 28), channels=(8, 16), batch_norm=True)  # small: seconds on 2 CPU cores

    def test_loss():
        net.eval()
        with torch.no_grad():
            return float(F.binary_cross_entropy_with_logits(net.decode_logits(net.encode(xt)), xt))

    before = test_loss()
    assert 0.6 < before < 0.8  # logits near 0 at the start: about log(2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        net.train()
        for idx in torch.randperm(len(x), generator=g).split(128):
            loss = F.binary_cross_entropy_with_logits(net.decode_logits(net.encode(x[idx])), x[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = test_loss()
    assert after < 0.5 * before, (before, after)


def test_transposed_convolution_leaves_a_cpu_bf16_autocast_and_is_torchs_layer_otherwise():
    """fewlabel's ConvTranspose2d is torch's layer (same parameters, same answer) computed in float32 where a CPU bf16
    autocast is on; torch's own layer, as the reference, answers in bf16 there."""
    import torch
    from torch import nn

    from fewlabel.nets.conv import ConvTranspose2d

    torch.manual_seed(0)
    ours = ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
    ref = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 8, 7, 7)
    torch.testing.assert_close(ours(x), ref(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, y_ref = ours(x.bfloat16()), ref(x)
    assert y.dtype == torch.float32 and y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y, ref(x.bfloat16().float()))  # its bf16 input, in float32
    torch.testing.assert_close(y_ref.float(), y, atol=0.05, rtol=0.05)


def test_convs_per_stage_stack_convolutions_before_each_pool():
    enc = ConvEncoder((28, 28), channels=(4, 8, 16), batch_norm=True, convs=[1, 2, 3])
    per_stage = [sum(isinstance(m, torch.nn.Conv2d) for m in stage) for stage in enc.stages]
    assert per_stage == [1, 2, 3]
    assert [stage[-1].__class__ for stage in enc.stages] == [torch.nn.MaxPool2d] * 3
    assert enc(torch.rand(5, 28, 28)).shape == (5, 16, 3, 3)
    assert ConvEncoder((28, 28), channels=(4, 8), convs=2).convs == [2, 2]
    # the config names the depth only where a stage has more than one convolution, and rebuilds it
    assert ConvEncoder(**enc.config()).config() == enc.config() and enc.config()["convs"] == [1, 2, 3]
    assert "convs" not in ConvEncoder((28, 28), channels=(4, 8)).config()
    for bad in (0, [1, 2], [1, 0, 1], "2", 1.5, True):
        with pytest.raises(InputError, match="convs"):
            ConvEncoder((28, 28), channels=(4, 8, 16), convs=bad)


def test_one_convolution_a_stage_keeps_the_weight_names_models_were_saved_with():
    """A model saved before ``convs`` existed has weights named stages.<i>.0 (conv) and .1 (batch norm):
    the same names one convolution a stage gives now, so it loads."""
    enc = ConvEncoder((28, 28), channels=(4, 8), batch_norm=True)
    assert sorted(k for k in enc.state_dict() if k.endswith("weight")) == [
        "stages.0.0.weight", "stages.0.1.weight", "stages.1.0.weight", "stages.1.1.weight"]
