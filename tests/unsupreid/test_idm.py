"""IDM (projects/UnsupReID/unsupreid/{idm, idm_loss, dsbn, idm_trainer}.py): the intermediate domain module's
ratios and mixing, domain-specific BN against explicit per-chunk BNs, IDM's losses against hand
computations, the model on every supported backbone (BN domains, inference folding, the deployable state
dict), the config checks, and an end-to-end run (Market-1501 source -> DukeMTMC-layout target) with resume
and --eval-only."""

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import unsup_testlib

from fastreid.config import get_cfg
from fastreid.data.common import CommDataset
from fastreid.engine.predictor import DefaultPredictor
from fastreid.modeling.inference import inference_model
from fastreid.modeling.meta_arch.build import build_model
from fastreid.utils.checkpoint import load_torch_file
from fastreid.utils.errors import ConfigValueError
from unsupreid import check_unsup_cfg
from unsupreid.dsbn import (
    DomainBatchNorm1d,
    DomainBatchNorm2d,
    DomainContext,
    convert_domain_batchnorm,
    drop_other_domains,
)
from unsupreid.idm import IDMBaseline, IntermediateDomainModule, deployable_state_dict
from unsupreid.idm_loss import bridge_feat_loss, bridge_prob_loss, diversity_loss, idm_losses
from unsupreid.idm_trainer import DomainPairLoader, IDMTrainer, per_domain_cfg

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "projects" / "UnsupReID" / "configs" / "Base-IDM.yml"
DOMAIN_BNS = (DomainBatchNorm1d, DomainBatchNorm2d)


# ---------------------------------------------------------------------------------------------- the IDM module
def test_idm_mixes_each_pair_by_softmax_ratios_from_the_detached_map():
    torch.manual_seed(0)
    idm = IntermediateDomainModule(8).train()
    x = torch.randn(6, 8, 4, 3, requires_grad=True)
    out, lam = idm(x)
    assert out.shape == (9, 8, 4, 3) and lam.shape == (3, 2)
    assert torch.allclose(lam.sum(dim=1), torch.ones(3)) and bool((lam > 0).all())
    x_s, x_t = x[:3], x[3:]
    assert torch.equal(out[:6], x)
    assert torch.allclose(out[6:], lam[:, :1, None, None] * x_s + lam[:, 1:, None, None] * x_t)
    lo, hi = torch.minimum(x_s, x_t), torch.maximum(x_s, x_t)
    assert bool((out[6:] >= lo - 1e-6).all() and (out[6:] <= hi + 1e-6).all())  # between its pair

    # L_div trains the ratio branch only: nothing flows back into the map
    diversity_loss(lam).backward()
    assert x.grad is None and all(p.grad is not None and p.grad.abs().sum() > 0 for p in idm.parameters())

    # L_bridge_feat: the FCs get a gradient; the map's gradient is the one with the ratios held constant
    idm.zero_grad()
    out, lam = idm(x)
    f = out.flatten(1)
    bridge_feat_loss(f[:3], f[3:6], f[6:], lam).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in idm.parameters())
    live = x.grad.clone()
    x.grad = None
    held = lam.detach()
    mix = held[:, :1, None, None] * x_s + held[:, 1:, None, None] * x_t
    f = torch.cat([x_s, x_t, mix]).flatten(1)
    bridge_feat_loss(f[:3], f[3:6], f[6:], held).backward()
    assert torch.allclose(live, x.grad)


def test_idm_hook_mixes_in_training_only_and_tells_the_bns():
    ctx = DomainContext()
    idm = IntermediateDomainModule(4, ctx)
    point = nn.Identity()
    point.register_forward_hook(idm.mix_hook)
    x = torch.randn(4, 4, 2, 2)
    ctx.num_domains = 2
    assert point(x).shape[0] == 6 and ctx.num_domains == 3 and idm.take_lambdas().shape == (2, 2)
    idm.eval()
    ctx.num_domains = 2
    assert torch.equal(point(x), x) and ctx.num_domains == 2
    with pytest.raises(RuntimeError, match="no mixing ratios"):
        idm.take_lambdas()


# ---------------------------------------------------------------------------------------------- DSBN
def _random_bn(bn):
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    return bn


def test_domain_bn_equals_a_bn_per_chunk_and_the_target_bn_in_eval():
    torch.manual_seed(0)
    plain = nn.Sequential(_random_bn(nn.BatchNorm2d(4)), nn.Flatten(), _random_bn(nn.BatchNorm1d(36)))
    refs = {d: copy.deepcopy(plain) for d in ("source", "target", "mix")}
    ctx = DomainContext()
    model = copy.deepcopy(plain)
    assert convert_domain_batchnorm(model, ctx, lambda name: 2 if name == "0" else 3) == 2
    assert isinstance(model[0], DomainBatchNorm2d) and model[0].num_domains == 2
    assert isinstance(model[2], DomainBatchNorm1d) and set(model[2].other_domains) == {"source", "mix"}
    model.train()

    # two domains: the 2d BN splits [source; target] (and so does the 1d one, with its two first domains)
    x = torch.randn(6, 4, 3, 3)
    ctx.num_domains = 2
    expected = torch.cat([refs["source"](x[:3]), refs["target"](x[3:])])
    assert torch.allclose(model(x), expected, atol=1e-5)
    for i in (0, 2):
        assert torch.allclose(model[i].running_mean, refs["target"][i].running_mean)
        assert torch.allclose(model[i].other_domains["source"].running_var, refs["source"][i].running_var)
    # three domains after the IDM point: the 1d BN alone, chunks [source; target; mix]
    y = torch.randn(9, 36)
    ctx.num_domains = 3
    expected = torch.cat([refs["source"][2](y[:3]), refs["target"][2](y[3:6]), refs["mix"][2](y[6:])])
    assert torch.allclose(model[2](y), expected, atol=1e-5)
    with pytest.raises(RuntimeError, match="keeps 2"):
        model[0](x.repeat(3, 1, 1, 1)[:9])  # a BN before the IDM point never sees the mix
    with pytest.raises(ValueError, match="equal domain chunks"):
        model[2](y[:8])

    # eval: the target's BN on the whole batch, whatever the context says
    model.eval()
    refs["target"].eval()
    assert torch.allclose(model(x), refs["target"](x), atol=1e-6)


def test_domain_bn_keeps_frozen_parameters_and_loads_plain_checkpoints_into_every_domain():
    from fastreid.layers import bn_neck

    neck = nn.Sequential(bn_neck(5))
    convert_domain_batchnorm(neck, DomainContext())
    assert not neck[0].bias.requires_grad and not neck[0].other_domains["mix"].bias.requires_grad
    assert neck[0].weight.requires_grad
    plain = nn.Sequential(_random_bn(nn.BatchNorm1d(5)))
    neck.load_state_dict(plain.state_dict(), strict=True)  # the other domains take the target's values
    for bn in (neck[0], neck[0].other_domains["source"], neck[0].other_domains["mix"]):
        assert torch.equal(bn.running_var, plain[0].running_var) and torch.equal(bn.weight, plain[0].weight)
    back = nn.Sequential(nn.BatchNorm1d(5))
    back.load_state_dict(drop_other_domains(neck.state_dict()), strict=True)
    assert torch.equal(back[0].running_mean, plain[0].running_mean)


# ---------------------------------------------------------------------------------------------- losses
def _log_softmax(row):
    m = max(row)
    z = math.log(sum(math.exp(v - m) for v in row)) + m
    return [v - z for v in row]


def test_idm_losses_match_hand_computations():
    eps, margin, k = 0.1, 0.3, 4
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.5, 2.0], [0.2, 1.0], [0.8, 0.4]])
    logits = torch.tensor([[2.0, 0.0, 0.5, -1.0], [0.0, 1.0, 0.0, 0.0], [0.3, 0.2, 1.5, 0.0],
                           [0.0, -0.5, 0.5, 2.0], [1.0, 0.0, 1.0, 0.0], [0.0, 0.5, 0.5, 1.0]], requires_grad=True)
    lam = torch.tensor([[0.25, 0.75], [0.6, 0.4]], requires_grad=True)
    y = torch.tensor([0, 0, 2, 3])  # source pair of one identity, target pair of two clusters
    rows, fl = logits.tolist(), f.tolist()

    ce = 0.0
    for i in range(4):
        lp = _log_softmax(rows[i])
        ce += (1 - eps) * -lp[int(y[i])] + eps * -sum(lp) / k
    ce /= 4

    def dist(a, b):
        return math.dist(fl[a], fl[b])

    tri = 0.0
    for a in range(4):
        pos = [dist(a, j) for j in range(4) if j != a and y[j] == y[a]]
        neg = [dist(a, j) for j in range(4) if y[j] != y[a]]
        tri += max(0.0, (max(pos) if pos else 0.0) - min(neg) + margin)
    tri /= 4

    ls, ys, yt = [0.25, 0.6], [0, 0], [2, 3]
    prob = 0.0
    for i in range(2):
        lp = _log_softmax(rows[4 + i])
        q = [eps / k] * k
        q[ys[i]] += (1 - eps) * ls[i]
        q[yt[i]] += (1 - eps) * (1 - ls[i])
        prob += -sum(qk * lpk for qk, lpk in zip(q, lp))
    prob /= 2
    feat = sum(ls[i] * dist(4 + i, i) + (1 - ls[i]) * dist(4 + i, 2 + i) for i in range(2)) / 2
    div = -2 * 0.175  # population std of (0.25, 0.6) and of (0.75, 0.4)

    terms = idm_losses(f, logits, lam, y, mu1=0.7, mu2=0.1, mu3=1.0, epsilon=eps, margin=margin)
    assert set(terms) == {"loss_ce", "loss_triplet", "loss_bridge_prob", "loss_bridge_feat", "loss_diversity"}
    for name, value in (("loss_ce", 0.3 * ce), ("loss_triplet", tri), ("loss_bridge_prob", 0.7 * prob),
                        ("loss_bridge_feat", 0.1 * feat), ("loss_diversity", div)):
        assert math.isclose(float(terms[name].detach()), value, rel_tol=1e-5, abs_tol=1e-6), name

    # the bridge-probability target holds lambda detached; the feature bridge and L_div train it
    bridge_prob_loss(logits[4:], lam[:, 0], y[:2], y[2:], eps).backward()
    assert lam.grad is None and logits.grad is not None
    (bridge_feat_loss(f[:2], f[2:4], f[4:], lam) + diversity_loss(lam)).backward()
    assert lam.grad is not None and lam.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------- the model
def _cfg(backbone, *extra):
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(BASE))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", backbone, "MODEL.BACKBONE.PRETRAIN", "False",
                         "MODEL.HEADS.NUM_CLASSES", "10", "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]",
                         "UNSUP.SOURCE.NAMES", '("Market1501",)', "SOLVER.IMS_PER_BATCH", "8",
                         "DATALOADER.NUM_INSTANCE", "2", *extra])
    return cfg


STEMS = {"resnet50": {"backbone.bn1"}, "osnet": {"backbone.stem.0.bn"}, "msinet": {"backbone.stem.0.bn"}}


@pytest.mark.parametrize("backbone", sorted(STEMS))
def test_idm_model_domains_training_terms_folding_and_deployable_weights(backbone):
    torch.manual_seed(0)
    cfg = _cfg(backbone)
    model = IDMBaseline.from_baseline(build_model(cfg), cfg)
    norms = {n: m for n, m in model.named_modules() if isinstance(m, DOMAIN_BNS)}
    assert not any(type(m) in (nn.BatchNorm1d, nn.BatchNorm2d) for n, m in model.named_modules()
                   if ".other_domains." not in f".{n}.")
    assert {n for n, m in norms.items() if m.num_domains == 2} == STEMS[backbone]  # the stem's BN only
    assert norms["heads.neck"].num_domains == 3 and model.idm.fc_pool.in_features == 2 * 64

    model.train()
    model.active_classes = 10
    images = torch.rand(8, 3, 64, 32) * 255
    terms = model({"images": images, "targets": torch.tensor([0, 0, 1, 1, 6, 6, 7, 7])})
    assert set(terms) == {"loss_ce", "loss_triplet", "loss_bridge_prob", "loss_bridge_feat", "loss_diversity"}
    sum(terms.values()).backward()
    stem = model.get_submodule(next(iter(STEMS[backbone])))
    neck_mix = norms["heads.neck"].other_domains["mix"]
    trained = (model.idm.fc_out.weight, stem.other_domains["source"].weight, neck_mix.weight,
               model.heads.classifier.weight)
    for p in trained:
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert model.context.num_domains == 1

    # a few steps so that every domain's statistics differ; eval is the target network, folded or not
    with torch.no_grad():
        for _ in range(2):
            model({"images": torch.rand(8, 3, 64, 32) * 255, "targets": torch.tensor([0, 0, 1, 1, 6, 6, 7, 7])})
    folded = inference_model(model)  # copied in training mode: the copy's IDM hook is the copy's (eval)
    model.eval()
    with torch.no_grad():
        feats = model(images)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
        assert torch.allclose(folded(images), feats, atol=1e-4)
        plain = build_model(cfg).eval()
        plain.load_state_dict(deployable_state_dict(model.state_dict()), strict=True)
        assert torch.allclose(plain(images), feats, atol=1e-5)


def test_idm_after_a_later_stage_gives_its_bns_two_domains():
    cfg = _cfg("resnet50", "UNSUP.IDM.STAGE", "1")
    model = IDMBaseline.from_baseline(build_model(cfg), cfg)
    two = {n for n, m in model.named_modules() if isinstance(m, DOMAIN_BNS) and m.num_domains == 2}
    assert "backbone.bn1" in two and "backbone.layer1.2.bn3" in two and "backbone.layer2.0.bn1" not in two
    assert model.point == "layer1" and model.idm.fc_pool.in_features == 2 * 256


def test_pair_loader_concatenates_source_and_offset_target_batches():
    class Stream(list):
        epochs = []

        def set_epoch(self, epoch, start_iter=0):
            self.epochs.append(epoch)

    src = Stream([{"images": torch.zeros(2, 1), "targets": torch.tensor([0, 1]), "img_paths": ["a", "b"]}])
    tgt = Stream([{"images": torch.ones(2, 1), "targets": torch.tensor([0, 2]), "img_paths": ["c", "d"]}])
    loader = DomainPairLoader(src, tgt, offset=5)
    loader.set_epoch(3)
    batch = next(iter(loader))
    assert batch["targets"].tolist() == [0, 1, 5, 7] and batch["img_paths"] == ["a", "b", "c", "d"]
    assert batch["images"][:, 0].tolist() == [0, 0, 1, 1] and Stream.epochs == [3, 3]


def test_target_rounds_are_sampled_for_the_target_half_of_the_batch():
    cfg = _cfg("osnet", "SOLVER.IMS_PER_BATCH", "16")
    trainer = IDMTrainer.__new__(IDMTrainer)  # only the config matters here
    trainer.cfg, trainer.domain_cfg = cfg, per_domain_cfg(cfg)
    clusters = CommDataset([(f"{i}.jpg", i // 4, i % 2) for i in range(40)], None, relabel=True)
    sampler = trainer.pseudo_label_sampler(clusters)
    assert sampler.num_pids_per_batch == 8 // 2 and trainer.cfg is cfg  # 8 target images, K 2


@pytest.mark.parametrize("key, value, expected", [
    ("UNSUP.IDM.STAGE", "5", "UNSUP.IDM.STAGE: 5"),
    ("UNSUP.IDM.MU1", "1.5", "UNSUP.IDM.MU1: 1.5"),
    ("UNSUP.SOURCE.NAMES", "()", "UNSUP.SOURCE.NAMES: ()"),
    ("UNSUP.SOURCE.NAMES", '("DukeMTMC",)', "also the target"),
    ("SOLVER.IMS_PER_BATCH", "7", "SOLVER.IMS_PER_BATCH: 7"),
    ("MODEL.HEADS.NECK_FEAT", "before", "MODEL.HEADS.NECK_FEAT: 'before'"),
    ("MODEL.HEADS.NAME", "FBLNeck", "MODEL.HEADS: FBLNeck"),
    ("MODEL.LOSSES.NAME", '("ClusterNCELoss",)', "MODEL.LOSSES.NAME"),
    ("UNSUP.IDM.ENABLED", "False", "UNSUP.SOURCE.NAMES: ('Market1501',)"),
])
def test_bad_idm_values_stop_with_one_line(key, value, expected):
    cfg = _cfg("resnet50", "DATASETS.NAMES", '("DukeMTMC",)', key, value)
    with pytest.raises(ConfigValueError) as err:
        check_unsup_cfg(cfg)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_idm_stage_range_depends_on_the_backbone():
    check_unsup_cfg(_cfg("resnet50", "DATASETS.NAMES", '("DukeMTMC",)', "UNSUP.IDM.STAGE", "4"))
    with pytest.raises(ConfigValueError, match="0..3 for osnet"):
        check_unsup_cfg(_cfg("osnet", "DATASETS.NAMES", '("DukeMTMC",)', "UNSUP.IDM.STAGE", "4"))


# ---------------------------------------------------------------------------------------------- end to end
TINY = [
    "MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", "osnet", "MODEL.BACKBONE.PRETRAIN", "False",
    "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]", "SOLVER.IMS_PER_BATCH", "8",
    "DATALOADER.NUM_INSTANCE", "2", "DATALOADER.NUM_WORKERS", "0", "SOLVER.ITERS_PER_EPOCH", "2", "SOLVER.STEPS", "[5]",
    "TEST.EVAL_PERIOD", "0", "TEST.IMS_PER_BATCH", "16", "SEED", "0", "UNSUP.CLUSTER.K1", "6", "UNSUP.CLUSTER.K2", "2",
    "UNSUP.CLUSTER.MIN_SAMPLES", "2", "UNSUP.CLUSTER.EPS", "0.7", "UNSUP.CLUSTER.PERIOD", "2",
    "UNSUP.SOURCE.NAMES", '("Market1501",)', "DATASETS.NAMES", '("DukeMTMC",)', "DATASETS.TESTS", '("DukeMTMC",)',
]
TERMS = ("loss_ce", "loss_triplet", "loss_bridge_prob", "loss_bridge_feat", "loss_diversity")


@pytest.fixture(scope="module")
def two_domains(tmp_path_factory):
    """Market-1501 source (8 identities, 32 images) and a DukeMTMC-layout target of other, dusk-rendered
    people (6 identities, 24 images) under one data root."""
    root = tmp_path_factory.mktemp("datasets")
    unsup_testlib.tiny_market(root)
    unsup_testlib.tiny_market(root, "DukeMTMC-reID", num_train_ids=6, seed=1, domain="dusk")
    return root


def _run(args, ok=True):
    return unsup_testlib.run(args, ok=ok, config=BASE)


@pytest.mark.slow
def test_idm_trains_source_and_clustered_target_resumes_and_evaluates(two_domains, tmp_path):
    out_dir = tmp_path / "run"
    args = [*TINY, "DATASETS.ROOT", str(two_domains), "OUTPUT_DIR", str(out_dir)]
    log = _run([*args, "SOLVER.MAX_EPOCH", "1"])
    assert "IDM: classifier rows of the 8 source identities set to their class means" in log
    rounds = json.loads((out_dir / "clustering.json").read_text())
    assert [r["images"] for r in rounds] == [24]  # the target's training images only
    metrics = [json.loads(line) for line in (out_dir / "metrics.json").read_text().splitlines()]
    steps = [m for m in metrics if "total_loss" in m]
    assert steps and all(t in steps[-1] for t in TERMS) and "idm/lambda_source_mean" in steps[-1]
    saved = load_torch_file(str(out_dir / "model_final.pth"))
    assert saved["num_classes"] == 8 + 24 and saved["model"]["heads.classifier.weight"].shape[0] == 32
    assert saved["idm_source_rows"] == {"done": True}
    clusters = rounds[0]["clusters"]
    slots = saved["pseudo_labels"]["slots"]
    assert torch.equal(slots, saved["model"]["heads.classifier.weight"][8:8 + clusters])
    # the deployable copy: the toolbox's predictor (the tools' model) loads it strictly with the run's config
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(BASE))
    cfg.merge_from_list([*args, "MODEL.WEIGHTS", str(out_dir / "model_final_deploy.pth")])
    assert DefaultPredictor(cfg)(torch.rand(2, 3, 64, 32) * 255).shape == (2, 512)

    # epoch 1 is not a round (PERIOD 2): the saved labels and classifier rows, the source rows not reset
    log = _run(["--resume", *args, "SOLVER.MAX_EPOCH", "2"])
    assert "Resuming at epoch 1" in log and "Epoch 1: training on the saved pseudo-labels" in log
    assert "source identities set" not in log and "Clustering round" not in log

    log = _run(["--eval-only", *args, "SOLVER.MAX_EPOCH", "2", "MODEL.WEIGHTS", str(out_dir / "model_final.pth")])
    assert "mAP" in log and "Traceback" not in log


def test_bad_idm_value_on_the_command_line_is_one_error_line(two_domains, tmp_path):
    err = _run([*TINY, "DATASETS.ROOT", str(two_domains), "OUTPUT_DIR", str(tmp_path / "bad"), "SOLVER.MAX_EPOCH", "1",
                "UNSUP.IDM.STAGE", "9"], ok=False)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "UNSUP.IDM.STAGE: 9" in lines[0] and "Traceback" not in err
