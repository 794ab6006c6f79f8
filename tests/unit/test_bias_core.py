"""The bias engine's functional core: distributions and their bootstrap CIs, confusion correction,
disparity, selection rates (against fairlearn and hand computations), attribute files, conditions,
and the embedding cache with an injected CLIP."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from genaudit.bias import (
    ClipEmbedder,
    ConfusionEstimate,
    EmbeddingCache,
    ZeroShotLabeler,
    audit_bias,
    disparity,
    distribution,
    load_attribute_set,
    parse_attribute_set,
    selection,
    unmix,
)
from genaudit.bias.conditions import condition_of, label_of, parse_group_by, prompt_of
from genaudit.errors import ConfigError

GROUPS = ("a", "b", "c")


def _noisy_labels(truth: np.ndarray, confusion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Predicted index per true index drawn from ``confusion`` rows (last column = abstain → -1)."""
    k = confusion.shape[0]
    out = np.array([rng.choice(k + 1, p=confusion[t]) for t in truth])
    return np.where(out == k, -1, out)


CONFUSION = np.array([[0.75, 0.15, 0.05, 0.05],
                      [0.20, 0.70, 0.05, 0.05],
                      [0.05, 0.05, 0.85, 0.05]])


def test_distribution_counts_shares_and_abstentions_exactly() -> None:
    d = distribution(np.array([0, 0, 0, 1, -1, -1, 2, 2]), GROUPS, n_boot=500, seed=1)
    assert d.counts.tolist() == [3, 1, 2] and d.abstained == 2 and d.n == 8 and d.labelled == 6
    assert d.shares.tolist() == pytest.approx([0.5, 1 / 6, 1 / 3])
    assert np.all(d.ci_low <= d.shares) and np.all(d.shares <= d.ci_high)
    doc = d.to_dict()
    assert doc["abstain_rate"] == 0.25
    assert set(doc["groups"]["a"]) == {"share", "ci_low", "ci_high", "n"} and doc["groups"]["a"]["n"] == 3


def test_ci_narrows_with_more_images_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    small = rng.choice(3, 100, p=[0.5, 0.3, 0.2])
    large = rng.choice(3, 10_000, p=[0.5, 0.3, 0.2])
    w_small = distribution(small, GROUPS, seed=3)
    w_large = distribution(large, GROUPS, seed=3)
    assert np.all((w_large.ci_high - w_large.ci_low) < (w_small.ci_high - w_small.ci_low) / 5)
    again = distribution(small, GROUPS, seed=3)
    assert np.array_equal(again.ci_low, w_small.ci_low) and np.array_equal(again.ci_high, w_small.ci_high)


def test_bootstrap_ci_covers_the_true_share_about_95_percent_of_the_time() -> None:
    hits = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        labels = rng.choice(3, 300, p=[0.6, 0.3, 0.1])
        d = distribution(labels, GROUPS, n_boot=400, seed=seed)
        hits += int(d.ci_low[1] <= 0.3 <= d.ci_high[1])
    assert 0.90 <= hits / 200 <= 0.99


def test_unmix_recovers_a_mixture_through_a_known_confusion_matrix() -> None:
    p = np.array([0.7, 0.3, 0.0])
    observed = CONFUSION.T @ p
    assert unmix(observed, CONFUSION) == pytest.approx(p, abs=1e-6)


def test_confusion_correction_restores_coverage_that_raw_shares_lose() -> None:
    """Planted 70/30 of groups a/b through a 25–30% confusion: the raw CI misses the planted share,
    the corrected CI (which resamples the calibration sample too) holds it."""
    raw_hits = corrected_hits = 0
    reps = 60
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        cal_truth = np.repeat(np.arange(3), 300)
        cal = ConfusionEstimate.from_labels(GROUPS, cal_truth, _noisy_labels(cal_truth, CONFUSION, rng))
        truth = np.array([0] * 280 + [1] * 120)
        d = distribution(_noisy_labels(truth, CONFUSION, rng), GROUPS, n_boot=300, seed=seed, calibration=cal)
        assert d.corrected is not None
        raw_hits += int(d.ci_low[0] <= 0.7 <= d.ci_high[0])
        corrected_hits += int(d.corrected.ci_low[0] <= 0.7 <= d.corrected.ci_high[0])
    assert corrected_hits / reps >= 0.9
    assert raw_hits / reps <= 0.3


def test_confusion_estimate_counts_abstentions_and_missing_rows() -> None:
    c = ConfusionEstimate.from_labels(GROUPS, np.array([0, 0, 1, 1, -1]), np.array([0, -1, 1, 0, 2]))
    assert c.counts.tolist() == [[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0]]
    assert c.missing_groups == ("c",)
    assert c.accuracy == 0.5
    assert c.matrix()[2].tolist() == [0.0, 0.0, 1.0, 0.0]  # no calibration data: taken as correct


def test_disparity_against_a_target_by_hand() -> None:
    d = distribution(np.array([0] * 70 + [1] * 30), ("x", "y"), n_boot=300, seed=0)
    r = disparity(d, (0.5, 0.5))
    assert r.total_variation.value == pytest.approx(0.2)
    assert r.max_abs.value == pytest.approx(0.2)
    assert r.kl.value == pytest.approx(0.7 * math.log(0.7 / 0.5) + 0.3 * math.log(0.3 / 0.5))
    assert r.total_variation.ci_low < 0.2 < r.total_variation.ci_high
    with pytest.raises(ValueError, match="target has 3 shares for 2 groups"):
        disparity(d, (0.2, 0.3, 0.5))


def test_disparity_orders_planted_mixtures() -> None:
    tvs = []
    for share in (0.5, 0.6, 0.7, 0.9):
        labels = np.array([0] * int(share * 1000) + [1] * (1000 - int(share * 1000)))
        tvs.append(disparity(distribution(labels, ("x", "y"), n_boot=200), (0.5, 0.5)).total_variation.value)
    assert tvs == sorted(tvs) and tvs[0] == 0.0


def test_selection_rates_difference_ratio_and_four_fifths_rule() -> None:
    from fairlearn.metrics import MetricFrame, selection_rate

    labels = np.array([0] * 70 + [1] * 30 + [0] * 50 + [1] * 50)
    cond = ["p1"] * 100 + ["p2"] * 100
    sel = {s.group: s for s in selection(labels, cond, ("x", "y"), n_boot=300, seed=0)}
    y = sel["y"]
    assert y.conditions == ("p1", "p2") and y.rates.tolist() == pytest.approx([0.3, 0.5])
    assert y.difference.value == pytest.approx(0.2) and y.ratio.value == pytest.approx(0.6)
    assert y.four_fifths_violation
    assert sel["x"].ratio.value == pytest.approx(5 / 7) and sel["x"].four_fifths_violation
    mf = MetricFrame(metrics=selection_rate, y_true=labels == 1, y_pred=labels == 1, sensitive_features=cond)
    assert y.difference.value == pytest.approx(float(mf.difference()))
    assert y.ratio.ci_low < 0.6 < y.ratio.ci_high


def test_no_four_fifths_flag_between_equal_conditions() -> None:
    labels = np.array([0, 1] * 200)
    sel = selection(labels, ["p1"] * 200 + ["p2"] * 200, ("x", "y"), n_boot=200)
    assert all(not s.four_fifths_violation for s in sel)
    assert all(s.ratio.value == pytest.approx(1.0) for s in sel)


def test_abstained_images_are_left_out_of_selection_rates_and_one_condition_gives_none() -> None:
    sel = selection(np.array([0, -1, 1, -1]), ["p", "p", "q", "q"], ("x", "y"), n_boot=200)
    assert [s.n.tolist() for s in sel] == [[1, 1], [1, 1]]
    assert selection(np.array([0, 1]), ["p", "p"], ("x", "y")) == []


# -- attribute files ---------------------------------------------------------------------------
def test_shipped_sets_load_with_their_groups() -> None:
    fm = load_attribute_set("fashion-mnist")
    from genaudit.datasets import CLASSES

    assert fm.attribute("class").group_names == CLASSES
    assert {a.name for a in fm.attributes} >= {"class", "tone", "texture"}
    people = load_attribute_set("people")
    assert len(people.attribute("monk_skin_tone").groups) == 10
    assert people.caveats


def test_shipped_prompts_never_occur_in_the_clip_training_captions() -> None:
    """Zero-shot means wordings the CLIP never saw: every prompt of the fashion-mnist set is built
    from a held-out template, and no held-out template is a training template."""
    from reference_models.clip_captions import EVAL_TEMPLATES, TRAIN_TEMPLATES

    def frame(t: str) -> tuple[str, str]:
        head, tail = t.split("{}")
        return head.strip(), tail.strip()

    assert {frame(t) for t in EVAL_TEMPLATES}.isdisjoint({frame(t) for t in TRAIN_TEMPLATES})
    fm = load_attribute_set("fashion-mnist")
    for a in fm.attributes:
        for g in a.groups:
            for p in g.prompts:
                assert any(p.startswith(h) and p.endswith(t) and len(p) > len(h) + len(t)
                           for h, t in map(frame, EVAL_TEMPLATES)), p


@pytest.mark.parametrize(("text", "message"), [
    ('name = "x"\n[[attribute]]\nname = "a"\n', "needs at least two"),
    ('name = "x"\n[[attribute]]\nname = "a"\n[[attribute.group]]\nname = "g"\nphrases = ["p"]\n'
     '[[attribute.group]]\nname = "h"\nprompts = ["q"]\n', "has phrases but there are no templates"),
    ('name = "x"\ntemplates = ["no slot"]\n[[attribute]]\nname = "a"\n', "must contain exactly one {}"),
    ('name = "x"\n[[attribute]]\nname = "a"\ntarget = {g = 0.7, h = 0.7}\n[[attribute.group]]\nname = "g"\n'
     'prompts = ["p"]\n[[attribute.group]]\nname = "h"\nprompts = ["q"]\n', "add up to 1.4"),
    ('name = "x"\n[[attribute]]\nname = "a"\nabstain_below = 2\n[[attribute.group]]\nname = "g"\nprompts = ["p"]\n'
     '[[attribute.group]]\nname = "h"\nprompts = ["q"]\n', "must be a number in [0, 1)"),
    ("name = [unclosed", "not valid TOML"),
    ('description = "no name"\n', "name: missing"),
])
def test_malformed_attribute_files_are_one_line_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "set.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as exc:
        load_attribute_set(str(path))
    assert "\n" not in str(exc.value)


def test_unknown_set_name_suggests_the_shipped_one() -> None:
    with pytest.raises(ConfigError, match="did you mean 'fashion-mnist'"):
        load_attribute_set("fashion-mnst")
    with pytest.raises(ConfigError, match="not found"):
        load_attribute_set("no/such/file.toml")


def test_target_table_and_templates_expand_into_prompts() -> None:
    s = parse_attribute_set({"name": "x", "templates": ["a {}.", "the {}."], "attribute": [
        {"name": "a", "target": {"g": 0.25, "h": 0.75},
         "group": [{"name": "g", "phrases": ["cat", "kitten"]}, {"name": "h", "prompts": ["a dog."]}]}]})
    a = s.attribute("a")
    assert a.groups[0].prompts == ("a cat.", "the cat.", "a kitten.", "the kitten.")
    assert a.groups[1].prompts == ("a dog.",) and a.target == (0.25, 0.75)
    assert a.index_of("H") == 1 and a.index_of("zebra") == -1


# -- conditions --------------------------------------------------------------------------------
def test_conditions_from_text_chunks_folders_and_csv(tmp_path: Path) -> None:
    assert label_of({"genaudit:label": "3"}) == "3" and label_of({}) is None
    assert prompt_of({"prompt": "a nurse"}) == "a nurse" and prompt_of({"x": "y"}) is None
    table_path = tmp_path / "groups.csv"
    table_path.write_text("file,group\nimgs/a.png,north\nb.png,south\n")
    how, table = parse_group_by(f"csv:{table_path}")
    assert condition_of(how, table, "imgs/a.png", {}) == "north"
    assert condition_of(how, table, "/elsewhere/b.png", {}) == "south"
    assert condition_of(how, table, "c.png", {}) == "(unlabelled)"
    assert condition_of("folder", None, "/data/run1/x.png", {}) == "run1"
    with pytest.raises(ConfigError, match="--group-by must be"):
        parse_group_by("colour")
    bad = tmp_path / "bad.csv"
    bad.write_text("onlyonecolumn\n")
    with pytest.raises(ConfigError, match="expected FILE,GROUP"):
        parse_group_by(f"csv:{bad}")


# -- injected CLIP, labels and the cache ----------------------------------------------------------
class _Counting:
    """An injected CLIP: images are 3-vectors, texts map to the axis their last word names."""

    def __init__(self) -> None:
        self.image_calls = 0

    def images(self, batch: list[np.ndarray]) -> np.ndarray:
        self.image_calls += len(batch)
        return np.asarray(batch, np.float32)

    @staticmethod
    def texts(texts: list[str]) -> np.ndarray:
        axes = {"red": 0, "green": 1, "blue": 2}
        return np.stack([np.eye(3)[axes[t.rstrip(".").split()[-1]]] for t in texts]).astype(np.float32)


SET = {"name": "colours", "templates": ["a photo that is {}."], "attribute": [
    {"name": "colour", "abstain_below": 0.6, "target": "uniform",
     "group": [{"name": g, "phrases": [g]} for g in ("red", "green", "blue")]}]}


def test_injected_clip_labels_abstains_and_uses_the_cache(tmp_path: Path) -> None:
    fake = _Counting()
    cache = EmbeddingCache(str(tmp_path / "cache"))
    emb = ClipEmbedder(image_fn=fake.images, text_fn=fake.texts, model_id="toy", cache=cache)
    images = [np.array([5.0, 0, 0]), np.array([0, 5.0, 0]), np.array([1.0, 1.0, 0.0]), np.array([0, 0, 5.0])]
    aset = parse_attribute_set(SET)
    report = audit_bias(images, ["p", "p", "q", "q"], aset, emb, keys=["k1", "k2", "k3", "k4"])
    colour = report.results["colour"]
    assert colour.labels.names() == ["red", "green", None, "blue"]  # the mixed one abstains
    assert colour.overall.abstained == 1 and colour.overall.counts.tolist() == [1, 1, 1]
    assert fake.image_calls == 4
    again = audit_bias(images, ["p", "p", "q", "q"], aset, emb, keys=["k1", "k2", "k3", "k4"])
    assert fake.image_calls == 4  # all four from the cache
    assert np.array_equal(again.results["colour"].labels.group_index, colour.labels.group_index)
    frame = report.to_frame()
    assert set(frame["condition"]) == {"(all)", "p", "q"} and len(frame) == 9
    labels = report.labels_frame()["colour"]
    assert labels.isna().tolist() == [False, False, True, False] and labels[3] == "blue"
    other = ClipEmbedder(image_fn=fake.images, text_fn=fake.texts, model_id="another", cache=cache)
    other.embed(images[:1], keys=["k1"])
    assert fake.image_calls == 5  # the cache is keyed by model id too


def test_labeler_probabilities_sum_to_one_and_follow_the_logit_scale() -> None:
    fake = _Counting()
    emb = ClipEmbedder(image_fn=fake.images, text_fn=fake.texts)
    lab = ZeroShotLabeler(emb, parse_attribute_set(SET).attribute("colour"))
    p = lab.probabilities(np.array([[0.8, 0.6, 0.0]], np.float32))
    assert p.sum() == pytest.approx(1.0, abs=1e-6)
    assert p[0, 0] / p[0, 1] == pytest.approx(math.exp(100.0 * 0.2), rel=1e-3)


def test_clip_configuration_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown CLIP architecture 'ViT-B-3'.*did you mean"):
        ClipEmbedder("ViT-B-3", str(tmp_path / "w.pt"))
    with pytest.raises(ConfigError, match="needs a local checkpoint"):
        ClipEmbedder("ViT-B-32", None)
    with pytest.raises(ConfigError, match="not found"):
        ClipEmbedder("genaudit-fmnist-vit", str(tmp_path / "missing.safetensors"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="cannot be read as safetensors"):
        ClipEmbedder("genaudit-fmnist-vit", str(junk))
    with pytest.raises(ConfigError, match="needs both image_fn and text_fn"):
        ClipEmbedder(image_fn=lambda x: x)
