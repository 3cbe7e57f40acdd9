"""Content encoders of the sequence VAEs (motionzoo.nn.sequence_vae)."""

import pytest
import torch

from motionzoo.nn.sequence_vae import ContentEncoder, run_rnn


def test_mean_pooling_is_the_average_of_frame_codes():
    torch.manual_seed(0)
    encoder = ContentEncoder(12, z_dim=6, hidden=5, pooling="mean")
    features = torch.randn(3, 7, 12)
    mu, logvar = encoder(features)
    # a one-frame clip gives that frame's own code; a sequence, the mean of the frames' codes
    frame_codes = encoder.frame(features)
    for t in (0, 4):
        one_mu, _ = encoder(features[:, t : t + 1])
        torch.testing.assert_close(one_mu, encoder.mu(frame_codes[:, t]))
    torch.testing.assert_close(mu, encoder.mu(frame_codes.mean(1)))
    torch.testing.assert_close(logvar, encoder.logvar(frame_codes.mean(1)))
    # order of the frames does not matter
    shuffled, _ = encoder(features[:, torch.randperm(7)])
    torch.testing.assert_close(shuffled, mu)


def test_lstm_pooling_depends_on_frame_order_and_bad_pooling_is_refused():
    torch.manual_seed(0)
    encoder = ContentEncoder(12, z_dim=6, hidden=5, num_layers=1, pooling="lstm")
    features = torch.randn(2, 5, 12)
    mu, _ = encoder(features)
    assert mu.shape == (2, 6)
    assert not torch.allclose(encoder(features.flip(1))[0], mu)
    with pytest.raises(ValueError, match="'lstm' or 'mean'"):
        ContentEncoder(12, pooling="max")


def test_run_rnn_computes_onednns_lstm_on_aten_kernels_and_restores_the_flag():
    """run_rnn is the same function as the module's default (oneDNN) CPU path, forward and
    gradients, and leaves the oneDNN switch as it found it."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(12, 8, batch_first=True, bidirectional=True)
    x = torch.randn(3, 5, 12, requires_grad=True)
    results = []
    for call in (lambda: lstm(x), lambda: run_rnn(lstm, x)):
        lstm.zero_grad()
        x.grad = None
        out, (h, c) = call()
        (out.pow(2).sum() + h.sum() + c.sum()).backward()
        results.append([out, h, c, x.grad, *(p.grad for p in lstm.parameters())])
    for ours, default in zip(*results):
        torch.testing.assert_close(ours, default, rtol=1e-5, atol=1e-6)
    assert torch.backends.mkldnn.enabled
    with pytest.raises(RuntimeError):
        run_rnn(lstm, torch.randn(3, 5, 7))  # a wrong input size still raises...
    assert torch.backends.mkldnn.enabled  # ...and the switch is restored
