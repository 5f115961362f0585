"""InfoNCE (Eq. (7)), AVC (Eq. (6)), AVTS and AVSA (Eq. (8)) with both negative sets, against values computed
here with explicit loops over samples, clips and candidates (B = 2–3, K = 2, D = 3)."""

import math

import pytest
import torch

from criterions import AVC, AVSA, AVTS
from criterions.infonce import candidate_logits, info_nce, retrieval_accuracies

TAU = 0.07
TRANSLATION = {"kind": "transformer", "depth": 1, "expansion": 2, "dropout": 0.0}


def _unit(vector):
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def _head(head, vector):
    weight, bias = head.projection[0].weight.tolist(), head.projection[0].bias.tolist()
    return [sum(w * x for w, x in zip(row, vector)) + b for row, b in zip(weight, bias)]


def _dot(p, q):
    return sum(x * y for x, y in zip(p, q))


def _candidates(i, c, samples, clips, negatives):
    """(sample, clip) of every candidate of prediction (i, c), in the documented order: the own sample's clips
    (positive at index c), then the other samples in batch order (all clips: paper; clip c only: reference)."""
    own = [(i, l) for l in range(clips)]
    others = [(n, l) for n in range(samples) if n != i for l in (range(clips) if negatives == "paper" else [c])]
    return own, others


def _direction_by_hand(predictions, targets, negatives):
    """predictions / targets: {(sample, clip): projected vector}. Returns loss, AVC-Acc, same-sample Acc and the
    logit rows (own + others) of every prediction."""
    samples = 1 + max(n for n, _ in targets)
    clips = 1 + max(c for _, c in targets)
    total, avc_hits, same_hits, rows = 0.0, 0, 0, {}
    for (i, c), prediction in predictions.items():
        own, others = _candidates(i, c, samples, clips, negatives)
        p = _unit(prediction)
        logits = [_dot(p, _unit(targets[key])) / TAU for key in own + others]
        rows[i, c] = logits
        positive = logits[c]
        total += -positive + math.log(sum(math.exp(z) for z in logits))
        avc_hits += positive > max(logits[clips:])
        same_hits += clips > 1 and positive > max(z for l, z in enumerate(logits[:clips]) if l != c)
    n = len(predictions)
    return total / n, 100.0 * avc_hits / n, 100.0 * same_hits / n, rows


def _vectors(tensor):
    return {(i, c): tensor[i, c].tolist() for i in range(tensor.shape[0]) for c in range(tensor.shape[1])}


@pytest.mark.parametrize("negatives", ["paper", "reference"])
def test_candidate_sets_and_info_nce(negatives):
    torch.manual_seed(0)
    preds = torch.nn.functional.normalize(torch.randn(3, 2, 3), dim=-1)
    targets = torch.nn.functional.normalize(torch.randn(3, 2, 3), dim=-1)
    same, others = candidate_logits(preds, targets, 0, negatives, TAU)
    loss, avc, same_acc, rows = _direction_by_hand(_vectors(preds), _vectors(targets), negatives)
    assert others.shape == (3, 2, 4 if negatives == "paper" else 2)  # (N-1)·K or N-1 easy negatives
    for (i, c), row in rows.items():
        expected = torch.tensor(row, dtype=torch.float64)
        assert torch.allclose(torch.cat([same[i, c], others[i, c]]).double(), expected, atol=1e-4)
    assert info_nce(same, others).item() == pytest.approx(loss, rel=1e-5)
    got_avc, got_same = retrieval_accuracies(same, others)
    assert got_avc.item() == pytest.approx(avc) and got_same.item() == pytest.approx(same_acc)
    # a rank holding global samples 1..2 sees exactly the rows of those samples
    part_same, part_others = candidate_logits(preds[1:], targets, 1, negatives, TAU)
    assert torch.equal(part_same, same[1:]) and torch.equal(part_others, others[1:])


def test_eq7_single_clip_by_formula():
    # Eq. (7) with one prediction and three targets: -log(exp(h_t/τ) / Σ_p exp(h_p/τ)).
    p = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]])
    t = torch.nn.functional.normalize(torch.tensor([[[1.0, 1.0, 0.0]], [[0.0, 1.0, 0.0]], [[1.0, 0.0, 1.0]]]), dim=-1)
    same, others = candidate_logits(p, t, 0, "paper", 0.5)
    s = 1 / math.sqrt(2)
    sims = [[s, 0.0, s], [s, 1.0, 0.0], [0.0, 0.0, s]]  # sims[i][j] = cos(p_i, t_j)
    expected = sum(-sims[i][i] / 0.5 + math.log(sum(math.exp(x / 0.5) for x in sims[i])) for i in range(3)) / 3
    assert info_nce(same, others).item() == pytest.approx(expected, rel=1e-6)


def test_ties_are_not_correct():
    same = torch.zeros(2, 3, 3)  # a collapsed model: all K logits equal
    others = torch.zeros(2, 3, 4)
    avc, spatial = retrieval_accuracies(same, others)
    assert avc.item() == 0.0 and spatial.item() == 0.0


@pytest.mark.parametrize("negatives", ["paper", "reference"])
def test_avsa_by_hand(negatives):
    torch.manual_seed(1)
    criterion = AVSA(3, proj_dim=3, translation=TRANSLATION, negatives=negatives).eval()
    video, audio = torch.rand(2, 2, 3), torch.rand(2, 2, 3)
    loss, metrics = criterion(video, audio, torch.zeros(2, 2, 3))
    audio_pred, video_pred = criterion.predict(video, audio)
    expected = []
    for name, pred, pred_head, target, target_head in [
            ("V2A", audio_pred, criterion.audio_pred_head, audio, criterion.audio_head),
            ("A2V", video_pred, criterion.video_pred_head, video, criterion.video_head)]:
        preds = {key: _head(pred_head, x) for key, x in _vectors(pred).items()}
        targets = {key: _head(target_head, x) for key, x in _vectors(target).items()}
        direction_loss, avc, spatial, _ = _direction_by_hand(preds, targets, negatives)
        assert metrics[f"Loss/{name}"].item() == pytest.approx(direction_loss, rel=1e-5)
        assert metrics[f"AVC-Acc/{name}"].item() == pytest.approx(avc)
        assert metrics[f"AVSA-Acc/{name}"].item() == pytest.approx(spatial)
        expected.append(direction_loss)
    assert loss.item() == pytest.approx(sum(expected) / 2, rel=1e-5)


def test_avc_single_viewpoint_by_hand():
    torch.manual_seed(2)
    criterion = AVC(3, proj_dim=2, pool_viewpoints="max")
    assert not criterion.has_translation
    video, audio = torch.rand(3, 1, 3), torch.rand(3, 1, 3)
    loss, metrics = criterion(video, audio)
    losses = []
    for name, src, src_head, trg, trg_head in [
            ("V2A", video, criterion.video_projection, audio, criterion.audio_projection),
            ("A2V", audio, criterion.audio_projection, video, criterion.video_projection)]:
        total = 0.0
        for i in range(3):
            p = _unit(_head(src_head, src[i, 0].tolist()))
            logits = [_dot(p, _unit(_head(trg_head, trg[j, 0].tolist()))) / TAU for j in range(3)]
            total += -logits[i] + math.log(sum(math.exp(z) for z in logits))  # Eq. (7), B - 1 negatives
        losses.append(total / 3)
        assert metrics[f"Loss/{name}"].item() == pytest.approx(losses[-1], rel=1e-5)
    assert loss.item() == pytest.approx(sum(losses) / 2, rel=1e-5)  # Eq. (6)
    assert set(metrics) == {"Loss/V2A", "Loss/A2V", "AVC-Acc/V2A", "AVC-Acc/A2V"}
    with pytest.raises(Exception, match="no translation networks"):
        criterion.predict(video, audio)


@pytest.mark.parametrize("cls,moments", [(AVC, 1), (AVTS, 2)])
def test_avc_avts_with_translation_and_pooling_by_hand(cls, moments):
    """K = 4 viewpoints = `moments` moments × 4/moments viewpoints: translate each moment's viewpoints together,
    max-pool them, then contrast each clip with all B·M clips of the batch."""
    torch.manual_seed(3)
    criterion = cls(3, proj_dim=3, translation=TRANSLATION, moments=moments, pool_viewpoints="max").eval()
    video, audio = torch.rand(2, 4, 3), torch.rand(2, 4, 3)
    loss, metrics = criterion(video, audio)
    views = 4 // moments
    losses = []
    for name, src, translator, pred_head, trg, trg_head in [
            ("V2A", video, criterion.v2a_transformer, criterion.audio_pred_head, audio, criterion.audio_head),
            ("A2V", audio, criterion.a2v_transformer, criterion.video_pred_head, video, criterion.video_head)]:
        preds, targets = {}, {}
        for i in range(2):
            for m in range(moments):
                moment = slice(m * views, (m + 1) * views)
                translated = translator(src[i:i + 1, moment])[0]  # only this moment's viewpoints
                preds[i, m] = _head(pred_head, translated.amax(0).tolist())
                targets[i, m] = _head(trg_head, trg[i, moment].amax(0).tolist())
        direction_loss, avc, temporal, _ = _direction_by_hand(preds, targets, "paper")
        losses.append(direction_loss)
        assert metrics[f"Loss/{name}"].item() == pytest.approx(direction_loss, rel=1e-5)
        assert metrics[f"AVC-Acc/{name}"].item() == pytest.approx(avc)
        if moments > 1:
            assert metrics[f"AVTS-Acc/{name}"].item() == pytest.approx(temporal)
    assert loss.item() == pytest.approx(sum(losses) / 2, rel=1e-5)
    audio_pred, video_pred = criterion.predict(video, audio)
    assert audio_pred.shape == video_pred.shape == (2, 4, 3)
