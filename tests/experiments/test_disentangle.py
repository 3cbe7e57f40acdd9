"""Tables 1 and 2 (experiments/disentangle.py): the 9 -> 3 action mapping against the Sprites
labels, every protocol's targets with a test-double model and an oracle classifier (known
answers), value ranges with a tiny DSVAE and a tiny classifier, and the command line."""

import math

import pytest
import torch

from motionzoo.experiments.disentangle import (
    DATASETS,
    action_probabilities,
    disentanglement,
    evaluate,
    format_tables,
    image_quality,
    main,
)
from motionzoo.models.baselines.dsvae import DSVAE
from motionzoo.models.classifier import SequenceClassifier
from motionzoo.pretrained import save_pretrained

SPEC = DATASETS["sprites_synthetic"]
HEADS = {"action": 9, "body": 6, "bottom": 6, "top": 6, "hair": 6}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def sprites(tmp_path_factory):
    """Folder and test split (9 sequences of one unseen character) of 6 procedural characters."""
    from motionzoo.data.sprites import SpritesDataModule

    root = tmp_path_factory.mktemp("sprites")
    dm = SpritesDataModule(root=str(root), synthetic_into_root=True, synthetic_characters=6)
    dm.prepare_data()
    dm.setup("test")
    return root, next(iter(dm.test_dataloader()))


def test_action_probabilities_sum_the_directions_of_each_action(sprites):
    _, data = sprites
    # the Sprites label is 3 * action + direction: a one-hot label maps to its action3
    onehot = torch.nn.functional.one_hot(data["action"], 9).double()
    assert torch.equal(action_probabilities(onehot, 3).argmax(-1), data["action3"])
    probs = torch.rand(5, 9).softmax(-1)
    out = action_probabilities(probs, 3)
    torch.testing.assert_close(out[:, 1], probs[:, 3:6].sum(-1))
    torch.testing.assert_close(out.sum(-1), torch.ones(5))
    torch.testing.assert_close(action_probabilities(probs, 9), probs)
    with pytest.raises(ValueError, match="multiple"):
        action_probabilities(torch.rand(2, 8).softmax(-1), 3)


class Oracle:
    """A classifier that knows the labels of the real sequences (looked up by their pixels)."""

    def __init__(self, data):
        self.hparams = type("H", (), {"heads": HEADS})()
        self.data = data

    def predict_proba(self, frames):
        t = self.data["frames"].shape[1]
        real = self.data["frames"].flatten(1)
        index = torch.cdist(frames[:, :t].flatten(1).double(), real.double()).argmin(1)
        return {h: torch.nn.functional.one_hot(self.data[h][index], k).double()
                for h, k in HEADS.items()}  # fmt: skip


class Replay:
    """An action-conditional test double: 'generates' the real sequence it is given (or whose
    first frame it is given), 'swaps' nothing; records the actions it was asked for."""

    num_actions = 3

    def __init__(self, data):
        self.data, self.asked = data, []

    def reconstruct(self, frames):
        return frames

    def generate(self, n, action=None, length=8, content_frames=None):
        return content_frames

    def swap_motion(self, a, b):
        return a, b

    def image_to_sequence(self, frame, action, length):
        index = (self.data["frames"][:, 0].flatten(1) == frame.flatten(1)[:, None]).all(-1)
        index = index.float().argmax(1)
        self.asked.append(action)
        seq = self.data["frames"][index]
        return seq[:, torch.arange(length) % seq.shape[1]]


def test_protocol_targets_with_known_answers(sprites):
    _, data = sprites
    model, oracle = Replay(data), Oracle(data)
    table1 = image_quality(model, data, SPEC, length=16, batch_size=4)
    assert torch.equal(torch.cat(model.asked), data["action3"])  # the true action is passed
    for row in table1.values():  # periodic truth: the replayed sequences are exact
        assert row["mse"] == 0 and row["ssim"] == pytest.approx(1) and row["psnr"] == math.inf
    table2 = disentanglement(model, oracle, data, SPEC, batch_size=4)
    assert list(table2) == ["real test sequences", "reconstruction (reference)",
                            "prior motion (action k) + real content",
                            "motion swap: content of a, motion of b"]  # fmt: skip
    assert table2["reconstruction (reference)"]["identity_acc"] == 1  # Replay: exact
    real = table2["real test sequences"]
    assert real["action_acc"] == 1 and real["identity_acc"] == 1 and real["h_y_given_x"] == 0
    assert real["h_y"] == pytest.approx(math.log(3))  # the 9 sequences: each action 3 times
    # asked for action i % 3 but given the real sequence: right where action3 == i % 3
    n = len(data["frames"])
    k = torch.cat([torch.arange(len(c)) % 3 for c in torch.arange(n).split(4)])
    prior = table2["prior motion (action k) + real content"]
    assert prior["action_acc"] == pytest.approx((data["action3"] == k).double().mean().item())
    assert prior["attr_acc"] == 1 and prior["acc_hair"] == 1
    # nothing swapped: each output moves like its own sequence, not like its partner (the next
    # sequence of its batch of 4)
    swap = table2["motion swap: content of a, motion of b"]
    a3 = data["action3"]
    partner = torch.cat([c.roll(-1) for c in a3.split(4)])
    assert swap["action_acc"] == pytest.approx((a3 == partner).double().mean().item())
    assert swap["identity_acc"] == 1


def test_tiny_dsvae_and_classifier_give_scores_in_range(sprites):
    _, data = sprites
    torch.manual_seed(0)
    model = DSVAE(f_dim=6, z_dim=3, hidden_dim=8, encoder_channels=[4, 4, 4],
                  encoder_strides=[2, 2, 2], encoder_hidden=16, conv_dim=8, decoder_hidden=16,
                  decoder_start_channels=4, decoder_channels=[4, 4, 4]).eval()  # fmt: skip
    classifier = SequenceClassifier(HEADS, channels=[4, 4, 4, 4], dim=8).eval()
    results = evaluate({"dsvae": model}, classifier, data, SPEC, length=16, batch_size=5)
    t1, t2 = results["dsvae"]["table1"], results["dsvae"]["table2"]
    rows = list(t1.values())
    assert rows[0] is None and rows[1] is None  # no image_to_sequence: n/a
    recon = rows[2]
    assert -1 <= recon["ssim"] <= 1 and recon["mse"] > 0
    # mean per-frame PSNR >= PSNR of the mean MSE (Jensen: -log is convex)
    assert recon["psnr"] >= 10 * math.log10(4 / recon["mse"]) - 1e-9
    assert "real motion + prior content (S3VAE)" in t2
    for row in t2.values():
        assert 0 <= row["h_y_given_x"] <= math.log(3) + 1e-9
        assert 0 <= row["h_y"] <= math.log(3) + 1e-9
        for key in ("action_acc", "attr_acc", "identity_acc"):
            assert math.isnan(row[key]) or 0 <= row[key] <= 1
        assert row["identity_acc"] <= row["attr_acc"] or math.isnan(row["attr_acc"])
    assert math.isnan(t2["prior motion + real content (unconditional)"]["action_acc"])
    assert math.isnan(t2["real motion + prior content (S3VAE)"]["attr_acc"])
    text = format_tables(results)
    assert "| dsvae | image to sequence, frames 1-8 vs real | n/a | n/a | n/a |" in text


def test_command_line_on_saved_models(sprites, tmp_path, capsys):
    root, _ = sprites
    torch.manual_seed(0)
    model = DSVAE(f_dim=6, z_dim=3, hidden_dim=8, encoder_channels=[4, 4, 4],
                  encoder_strides=[2, 2, 2], encoder_hidden=16, conv_dim=8, decoder_hidden=16,
                  decoder_start_channels=4, decoder_channels=[4, 4, 4]).eval()  # fmt: skip
    classifier = SequenceClassifier(HEADS, channels=[4, 4, 4, 4], dim=8).eval()
    for name, m in (("m", model), ("c", classifier)):
        save_pretrained(m, name, config="-", training_data="-", metrics={}, directory=tmp_path)
    results = main(["--checkpoint", str(tmp_path / "m.ckpt"), "--classifier",
                    str(tmp_path / "c.ckpt"), "--data", "sprites", "--root", str(root),
                    "--limit", "6"])  # fmt: skip
    assert set(results) == {"m"}
    assert "Table 2" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--checkpoint", "x", "--classifier", "y", "--data", "sprites"])  # real: no root


@pytest.mark.parametrize("action_head", [True, False], ids=["head", "paper (no head)"])
def test_hamiltonian_vae_with_and_without_the_action_head(sprites, action_head):
    """The paper's network has no action head: the tables give it the batch's labels."""
    from motionzoo.metrics.image import FrameMSE
    from motionzoo.models.hamiltonian_vae import HamiltonianVAE

    _, data = sprites
    torch.manual_seed(0)
    model = HamiltonianVAE(subspace_dim=2, z_dim=4, h_dim=8, encoder_channels=[4, 4, 4],
                           encoder_strides=[2, 2, 2], encoder_hidden=8, decoder_channels=[4, 4, 4],
                           decoder_start_channels=4, decoder_hidden=8, content_pooling="mean",
                           action_head=action_head).eval()  # fmt: skip
    classifier = SequenceClassifier(HEADS, channels=[4, 4, 4, 4], dim=8).eval()
    results = evaluate({"h": model}, classifier, data, SPEC, length=16, batch_size=5)
    recon = list(results["h"]["table1"].values())[2]
    labels = None if action_head else data["action3"]
    expected = FrameMSE()(model.reconstruct(data["frames"], action=labels), data["frames"])
    assert recon["mse"] == pytest.approx(expected.item(), rel=1e-5)
    swap = results["h"]["table2"]["motion swap: content of a, motion of b"]
    assert 0 <= swap["action_acc"] <= 1 and 0 <= swap["h_y"] <= math.log(3) + 1e-9
