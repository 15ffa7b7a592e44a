"""Every config group composes and instantiates; presets hold; bad values get one clear message."""

from __future__ import annotations

import dataclasses

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf

from raft_lightning.objectives import BYOL, SimSiam
from raft_lightning.run.build import build, build_objective
from raft_lightning.run.validation import ConfigError, config_errors
from tests.conftest import CONF, compose_run

OPTIONS = {
    group: sorted(p.stem for p in (CONF / group).glob("*.yaml"))
    for group in (
        "model",
        "predictor",
        "loss",
        "teacher",
        "optimizer",
        "data",
        "trainer",
        "callbacks",
        "logger",
        "experiment",
    )
}


def test_the_groups_have_the_options_the_paper_needs():
    assert OPTIONS["loss"] == ["byol", "byol_prime", "directpred", "raft", "random", "simsiam", "supervised"]
    assert OPTIONS["teacher"] == ["ema"]
    assert OPTIONS["predictor"] == ["linear", "linear_identity", "mlp", "mlp_bn", "none"]
    assert OPTIONS["model"] == ["convnet", "convnet_tiny", "resnet18", "resnet18_cifar"]
    assert {"cifar10", "fashion_mnist", "synthetic"} <= set(OPTIONS["data"])
    assert {"paper", "smoke", "demo", "table1", "table3"} <= set(OPTIONS["experiment"])


def test_defaults_are_the_papers_setting(tmp_path):
    cfg = compose_run(run_dir=tmp_path)
    assert cfg.model.backbone.name == "resnet18" and cfg.data._target_.endswith("CIFAR10DataModule")
    assert cfg.data.image_size == 96 and cfg.data.batch_size == 128
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 3e-4 and cfg.optimizer.weight_decay == 0
    assert cfg.trainer.max_epochs == 300 and cfg.teacher.tau == 0.996 and cfg.teacher.schedule == "constant"
    assert cfg.model.projector.hidden_dim == 512 and cfg.model.projector.output_dim == 128
    assert cfg.predictor.batch_norm is False and cfg.predictor.hidden_dim == 512
    paper = compose_run("experiment=paper", run_dir=tmp_path)
    assert paper.model == cfg.model and paper.data == cfg.data and paper.optimizer == cfg.optimizer


@pytest.mark.parametrize("model", OPTIONS["model"])
@pytest.mark.parametrize("predictor", OPTIONS["predictor"])
def test_model_and_predictor_options_build(model, predictor, tmp_path):
    cfg = compose_run(f"model={model}", f"predictor={predictor}", "loss=raft", run_dir=tmp_path)
    module = build_objective(cfg)
    size = 32 if model != "resnet18" else 64
    x = torch.randn(2, 3, size, size)
    module.eval()
    h, f = module.online(x)
    width = cfg.model.projector.output_dim  # 128 (Appendix C), 32 for the smoke preset's convnet_tiny
    assert f.shape == (2, width) and module.predictor(f).shape == (2, width)


@pytest.mark.parametrize("loss", OPTIONS["loss"])
def test_loss_options_pick_their_module(loss, tmp_path):
    predictor = ["predictor=linear"] if loss == "directpred" else []  # the only predictor it accepts
    cfg = compose_run(f"loss={loss}", "model=convnet", *predictor, run_dir=tmp_path)
    module = build_objective(cfg)
    names = {
        "byol": "BYOL",
        "byol_prime": "BYOLPrime",
        "directpred": "DirectPred",
        "raft": "RAFT",
        "random": "RandomEncoder",
        "simsiam": "SimSiam",
        "supervised": "Supervised",
    }
    assert type(module).__name__ == names[loss]


@pytest.mark.parametrize("group", ["optimizer", "trainer", "logger", "data"])
def test_other_groups_instantiate(group, tmp_path):
    for option in OPTIONS[group]:
        cfg = compose_run(f"{group}={option}", run_dir=tmp_path)
        node = cfg[group]
        if group == "optimizer":
            instantiate(node)([torch.nn.Parameter(torch.zeros(1))])
        elif group == "logger":
            assert all(instantiate(n) is not None for n in (node or {}).values())
        elif group == "data":
            dm = instantiate(node)
            assert dm.batch_size == node.batch_size
        else:
            assert instantiate(node, accelerator="cpu").max_epochs == node.max_epochs


def test_constructors_get_the_values_validation_checked(tmp_path):
    """Validation reads a node's values as plain lists and dicts; the objects are built from the
    same (run.build.construct), so a class's own rule, run again by its constructor, holds there
    too: a user's callback with a list and a dict, and the datamodule's augment lists."""
    cfg = compose_run(
        "experiment=smoke",
        "+callbacks.plain._target_=tests.helpers.PlainValues",
        "+callbacks.plain.sizes=[1,2]",
        "+callbacks.plain.where={a:[3]}",
        run_dir=tmp_path,
    )
    assert config_errors(cfg) == []
    datamodule, _, trainer = build(cfg)
    (plain,) = [c for c in trainer.callbacks if type(c).__name__ == "PlainValues"]
    assert plain.values == {"sizes": [1, 2], "where": {"a": [3]}}
    lists = [v for v in datamodule.augment.values() if OmegaConf.is_config(v) or isinstance(v, list)]
    assert lists and all(type(v) is list for v in lists), datamodule.augment


@pytest.mark.parametrize("experiment", OPTIONS["experiment"])
def test_experiments_compose_and_validate(experiment, tmp_path):
    cfg = compose_run(f"experiment={experiment}", run_dir=tmp_path)
    errors = config_errors(cfg)
    absent = ["CIFAR-10 not found"] + ([] if torch.cuda.is_available() else ["torch sees no GPU here"])
    assert all(any(reason in e for reason in absent) for e in errors), errors  # what this machine lacks


def test_smoke_composes_with_every_predictor_and_loss(tmp_path):
    for loss in OPTIONS["loss"]:
        for predictor in OPTIONS["predictor"]:
            cfg = compose_run("experiment=smoke", f"loss={loss}", f"predictor={predictor}", run_dir=tmp_path)
            if loss == "directpred" and not predictor.startswith("linear"):  # it sets a linear W_p
                assert config_errors(cfg, dict(HydraConfig.get().runtime.choices)) == [
                    f"predictor={predictor}: loss=directpred sets a linear predictor from its input's correlation; "
                    "use predictor=linear"
                ]
                continue
            assert config_errors(cfg) == []
            build_objective(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("loss.alpha=-1", "loss.alpha=-1: must be a finite number ≥ 0"),
        ("loss.beta=nan", "loss.beta=nan: must be a finite number ≥ 0"),
        ("loss.beta=1e39", "loss.beta=1e+39: must be ≤ 3.40282e+38, the largest float32"),
        ("+optimizer.eps=nan", "optimizer.eps=nan: must be a finite number ≥ 0 and ≤ 3.40282e+38"),
        ("+optimizer.eps=1e39", "optimizer.eps=1e+39: must be a finite number ≥ 0 and ≤ 3.40282e+38"),
        ("+optimizer.eps=-1", "optimizer.eps=-1: must be a finite number ≥ 0"),
        ("+optimizer.foo=1e39", "optimizer.foo=1e+39: must be a finite number of at most 3.40282e+38 in size"),
        ("loss.alpha=2", "loss.alpha=2, beta=1.0: BYOL's loss has no weights"),
        ("teacher.tau=1.0", "teacher.tau=1.0: must be in [0, 1)"),
        ("teacher.tau=-0.5", "teacher.tau=-0.5: must be in [0, 1)"),
        ("data.batch_size=1", "data.batch_size=1: must be an integer ≥ 2"),
        ("model.backbone.name=vgg", "model.backbone.name='vgg': unknown backbone; choose one of resnet18"),
        ("data.root=/nonexistent", "data.root='/nonexistent': CIFAR-10 not found there"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0: must be an integer ≥ 1 (the untrained encoder is loss=random)"),
        ("seed=4294967296", "seed=4294967296: must be an integer ≥ 0 and ≤ 4294967295"),  # numpy's largest seed
        # one bad key, one line: not once more for every key that refers to it or that it cannot take
        ("seed=${oc.env:RAFT_TEST_UNSET_VARIABLE}", "seed=${oc.env:RAFT_TEST_UNSET_VARIABLE}: cannot be resolved"),
        ("loss._target_=os.system", "loss._target_='os.system': not an objective (a subclass of raft_lightning"),
        # one line per key: not the signature's type check and the rule both, nor data.seed=${seed} again
        ("trainer.max_epochs=2.5", "trainer.max_epochs=2.5: must be an integer ≥ 1"),
        # Lightning's ways to train nothing: each would record a run with no result as ok
        ("+trainer.limit_train_batches=0", "trainer.limit_train_batches=0: an integer ≥ 1 (batches) or a fraction in"),
        ("+trainer.limit_train_batches=0.0", "trainer.limit_train_batches=0.0: an integer ≥ 1 (batches) or a fraction"),
        ("+trainer.limit_train_batches=1.5", "trainer.limit_train_batches=1.5: an integer ≥ 1 (batches) or a fraction"),
        ("+trainer.max_steps=0", "trainer.max_steps=0: must be an integer ≥ 1 (or -1: no limit)"),
        # a list of device indices is for GPUs (Lightning's CPU accelerator takes a count)
        ("trainer.devices=[0,1]", "trainer.devices=[0, 1]: on a CPU, the number of processes (an integer ≥ 1)"),
        ("trainer.devices=[]", "trainer.devices=[]: an integer ≥ 1, a list of device indices, or auto"),
        ("trainer.devices=[-1]", "trainer.devices=[-1]: an integer ≥ 1, a list of device indices, or auto"),
        ("+trainer.fast_dev_run=true", "trainer.fast_dev_run=True: not for a run; a quick check is experiment=smoke"),
        ("seed=abc", "seed='abc': must be an integer ≥ 0 and ≤ 4294967295"),
        # a string where a list belongs would be read letter by letter
        ("tags=ablation", "tags='ablation': a list of labels, e.g. tags=[ablation,v2] (tags=[ablation] for one)"),
        ("tags=[a,[b]]", "tags=['a', ['b']]: a list of labels"),
        ("model.backbone._target_=os.path", "model.backbone._target_='os.path': a module, not a class"),
        (
            "loss._target_=builtins.dict",
            "loss._target_='builtins.dict': not an objective (a subclass of raft_lightning",
        ),
        (
            "loss._target_=raft_lightning.objectives.WithTeacher",
            "loss._target_='raft_lightning.objectives.WithTeacher': a base class, its objective not defined",
        ),
        ("data.root=", "data.root='': set it to the folder that holds cifar-10-batches-py"),  # not the current folder
    ],
)
def test_bad_values_get_one_clear_message(override, message, tmp_path):
    data = [] if override.startswith("data.root") else ["data=synthetic"]
    cfg = compose_run(*data, override, run_dir=tmp_path)
    errors = config_errors(cfg)
    assert len(errors) == 1 and errors[0].startswith(message), errors


class NeedsGamma(BYOL):
    """A user's method whose own parameter has no default (and which names a part build hands it)."""

    def __init__(self, gamma: float, backbone, **kwargs) -> None:
        super().__init__(backbone=backbone, **kwargs)
        self.gamma = gamma


class NeedsTeacher(SimSiam):
    """A method without a mean teacher (SimSiam) whose own __init__ asks for one: build hands it none."""

    def __init__(self, teacher, **kwargs) -> None:
        super().__init__(**kwargs)


class Level(L.Callback):
    def __init__(self, level: int) -> None:
        self.level = level


class Builds(L.Callback):
    """A callback that builds its child itself (``_recursive_: false``), handing it a keyword."""

    def __init__(self, inner) -> None:
        self.inner = instantiate(inner, level=5)


@dataclasses.dataclass
class DataclassCallback(L.Callback):
    level: int = 3


@pytest.mark.parametrize(
    "overrides, errors",
    [
        # the teacher is handed only to a method that has one (objectives.has_teacher)
        ([f"loss._target_={__name__}.NeedsTeacher"], ["loss.teacher: missing; NeedsTeacher requires it"]),
        # a parent's parameter of the package's own classes (their **kwargs go to it)
        (["~data.augment"], ["data.augment: missing; ImageDataModule requires it"]),
        # a target in a list
        ([f"+trainer.plugins=[{{_target_: {__name__}.Level}}]"], ["trainer.plugins[0].level: missing; Level requires"]),
        # a child its parent builds itself may get keywords from it: not missing
        (
            [
                f"+callbacks.o._target_={__name__}.Builds",
                "+callbacks.o._recursive_=false",
                f"+callbacks.o.inner._target_={__name__}.Level",
            ],
            [],
        ),
    ],
)
def test_required_parameters_are_judged_as_the_build_gives_them(tmp_path, overrides, errors):
    found = config_errors(compose_run("data=synthetic", *overrides, run_dir=tmp_path))
    assert len(found) == len(errors) and all(f.startswith(e) for f, e in zip(found, errors)), found


def test_the_trainer_gets_plain_values_and_the_built_callbacks_as_they_are(tmp_path):
    """Lightning's dict form of max_time (a DictConfig would be taken for a timedelta), and a
    dataclass callback (instantiate would turn it back into a config)."""
    cfg = compose_run(
        "data=synthetic",
        "+trainer.max_time={hours: 1}",
        f"+callbacks.d._target_={__name__}.DataclassCallback",
        run_dir=tmp_path,
    )
    assert config_errors(cfg) == []
    _, _, trainer = build(cfg)
    assert any(type(c) is DataclassCallback and c.level == 3 for c in trainer.callbacks)
    timer = next(c for c in trainer.callbacks if type(c).__name__ == "Timer")
    assert timer._duration == 3600


def test_a_parameter_the_method_requires_and_the_config_lacks_is_refused_before_the_run(tmp_path):
    target = f"loss._target_={__name__}.NeedsGamma"
    cfg = compose_run("data=synthetic", target, run_dir=tmp_path)
    assert config_errors(cfg) == ["loss.gamma: missing; NeedsGamma requires it (no default): add +loss.gamma=..."]
    # given, it builds; backbone (and the other parts) come from run.build, not the config
    cfg = compose_run("data=synthetic", target, "+loss.gamma=0.5", run_dir=tmp_path)
    assert config_errors(cfg) == [] and build_objective(cfg).gamma == 0.5
    # a partial node gets the rest when it is called: the optimiser's params, the projector's width
    assert config_errors(compose_run("data=synthetic", "optimizer.lr=0.1", run_dir=tmp_path)) == []


def test_a_target_that_does_not_import_is_one_line_and_nothing_else(tmp_path, caplog):
    cfg = compose_run("data=synthetic", "loss._target_=not_installed_anywhere.MyMethod", run_dir=tmp_path)
    with caplog.at_level("DEBUG"):  # Hydra's get_object logged each failed lookup: printed twice more
        errors = config_errors(cfg)
    message = (
        "loss._target_='not_installed_anywhere.MyMethod': cannot be imported (No module named 'not_installed_anywhere')"
    )
    assert errors == [message] and not [r for r in caplog.records if "not_installed_anywhere" in r.getMessage()]


def test_a_backbone_target_that_builds_no_backbone_is_named(tmp_path):
    # torch.nn.Identity takes any keywords: only the object built tells it is no backbone
    cfg = compose_run("data=synthetic", "model=convnet", "model.backbone._target_=torch.nn.Identity", run_dir=tmp_path)
    with pytest.raises(
        ConfigError, match=r"model.backbone._target_='torch.nn.Identity': built a Identity without out_dim"
    ):
        build_objective(cfg)


def test_a_list_of_gpu_indices_is_a_devices_value(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # judged as on a machine with GPUs
    assert config_errors(compose_run("data=synthetic", "trainer=gpu", "trainer.devices=[0,1]", run_dir=tmp_path)) == []


def test_a_gpu_asked_for_where_there_is_none_is_refused_before_the_run_but_not_for_a_slurm_sweep(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    message = "trainer.accelerator=gpu: torch sees no GPU here; use trainer.accelerator=cpu (or auto)"
    assert config_errors(compose_run("data=synthetic", "trainer=gpu", run_dir=tmp_path)) == [message]
    # the jobs of a sweep sent to SLURM run on the cluster's machines, and check again there
    with initialize_config_dir(str(CONF), version_base="1.3"):  # as the command line's check composes it
        slurm = compose(
            "train", overrides=["data=synthetic", "trainer=gpu", "launcher=slurm"], return_hydra_config=True
        )
    assert "Slurm" in slurm.hydra.launcher._target_ and config_errors(slurm) == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config_errors(compose_run("data=synthetic", "trainer=gpu", run_dir=tmp_path)) == []


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        (["trainer.precision=16-true"], "float16 weights with Adam, whose eps (1e-08) is 0 in float16"),
        (["trainer.precision=16-true", "optimizer=sgd"], None),  # SGD has no eps to lose
        (["trainer.precision=16-true", "+optimizer.eps=0.001"], None),  # an eps float16 holds
        (["trainer.precision=transformer-engine"], "one of 64-true"),
        (["trainer.precision=8"], "one of 64-true"),
        (["trainer.precision=16-mixed"], "float16 autocast needs a GPU"),
        (["trainer.precision=16-mixed", "trainer.accelerator=auto"], "float16 autocast needs a GPU"),
        (["trainer.precision=bf16-mixed"], None),
        (["trainer.precision=bf16-true"], None),
        (["trainer.precision=64-true"], None),
    ],
)
def test_a_precision_that_would_not_run_what_the_record_says_is_refused(tmp_path, monkeypatch, overrides, refused):
    """16-true with Adam read "diverged" at step 1 (a result about the method, from eps = 0 in
    float16); 16-mixed on a CPU ran as bf16-mixed under a record saying 16-mixed."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    errors = config_errors(compose_run("data=synthetic", "trainer=cpu", *overrides, run_dir=tmp_path))
    if refused is None:
        assert errors == []
    else:
        assert len(errors) == 1 and errors[0].startswith(f"{overrides[0]}: ") and refused in errors[0], errors


def test_an_eps_that_is_no_number_is_named_once_with_float16_weights(tmp_path):
    errors = config_errors(
        compose_run(
            "data=synthetic", "trainer=cpu", "trainer.precision=16-true", "+optimizer.eps=abc", run_dir=tmp_path
        )
    )
    assert len(errors) == 1 and errors[0].startswith("optimizer.eps='abc': must be a finite number"), errors


@pytest.mark.parametrize(
    ("optimizer", "refused"),
    [("RMSprop", True), ("Adagrad", True), ("NAdam", True), ("Adamax", True), ("SGD", False), ("LBFGS", False)],
)
def test_float16_weights_are_refused_with_any_optimizer_whose_eps_float16_cannot_hold(optimizer, refused):
    """Not Adam alone: every eps of torch's optimizers that is 0 in float16 (its default read
    from the constructor where the config names none)."""
    from raft_lightning.run.trainer_rules import precision_errors

    trainer = {"precision": "16-true", "accelerator": "cpu"}
    cfg = OmegaConf.create({"trainer": trainer, "optimizer": {"_target_": f"torch.optim.{optimizer}"}})
    assert bool(precision_errors(cfg)) == refused, precision_errors(cfg)


# Every row of the paper's look-up table (Table 1) as one override set: variant=<name>.
TABLE1_ROWS = {
    "byol_mlp_bn": ("byol", "mlp_bn", False),
    "byol_mlp": ("byol", "mlp", False),
    "byol_lp": ("byol", "linear", False),
    "byol_lpi": ("byol", "linear_identity", False),
    "byol_np": ("byol", "none", False),
    "byol_prime_mlp": ("byol_prime", "mlp", False),
    "byol_prime_lp": ("byol_prime", "linear", False),
    "byol_prime_lpi": ("byol_prime", "linear_identity", False),
    "byol_prime_np": ("byol_prime", "none", False),
    "tanbyol_lp": ("byol", "linear", True),
    "raft_lp": ("raft", "linear", False),
    "raft_np": ("raft", "none", False),
}


# Table 1's extra rows: the later methods on the paper's question (docs/methods.md).
EXTRA_ROWS = {"simsiam": ("simsiam", "mlp_bn"), "directpred": ("directpred", "linear")}


@pytest.mark.parametrize("variant", sorted(EXTRA_ROWS))
def test_each_extra_table1_row_is_one_override(variant, tmp_path):
    for base in ([], ["experiment=table1"], ["experiment=smoke"]):
        compose_run(*base, f"variant={variant}", run_dir=tmp_path)
        choices = HydraConfig.get().runtime.choices
        assert (choices["loss"], choices["predictor"]) == EXTRA_ROWS[variant]


@pytest.mark.parametrize("variant", sorted(TABLE1_ROWS))
def test_each_table1_row_is_one_override(variant, tmp_path):
    for base in ([], ["experiment=table1"], ["experiment=smoke"]):  # the variant wins over presets
        cfg = compose_run(*base, f"variant={variant}", run_dir=tmp_path)
        choices = HydraConfig.get().runtime.choices
        assert (choices["loss"], choices["predictor"], cfg.loss.tangential) == TABLE1_ROWS[variant]
        assert (cfg.loss.alpha, cfg.loss.beta) == (1.0, 1.0)


def test_table_presets_sweep_the_papers_grids(tmp_path):
    from raft_lightning.readers import sweep_jobs

    with initialize_config_dir(str(CONF), version_base="1.3"):
        table1 = compose("train", overrides=["experiment=table1"], return_hydra_config=True)
        table3 = compose(
            "train", overrides=["experiment=table3", "data=fashion_mnist", "model=convnet"], return_hydra_config=True
        )
    jobs = sweep_jobs(table1)
    assert len(jobs) == 15 * 3 and {j[0].split("=")[1] for j in jobs} == set(TABLE1_ROWS) | set(EXTRA_ROWS) | {"random"}
    assert table1.eval.linear and table1.trainer.max_epochs == 300 and table1.data.image_size == 96
    jobs3 = sweep_jobs(table3)
    betas = {float(o.split("=")[1]) for j in jobs3 for o in j if o.startswith("loss.beta=")}
    assert min(betas) <= 0.01 and max(betas) >= 10  # β ≪ α and β ≫ α
    assert len(jobs3) == 2 * len(betas) * 3 and table3.data._target_.endswith("FashionMNISTDataModule")


def test_a_closed_stderr_is_not_a_terminal(monkeypatch):
    """``cmd 2>&-`` leaves Python's sys.stderr None: the progress bar's ${isatty:} is then false,
    not an error that refuses a valid command line."""
    import sys

    from raft_lightning.run.resolvers import register_resolvers

    register_resolvers()
    monkeypatch.setattr(sys, "stderr", None)
    assert OmegaConf.create({"bar": "${isatty:}"}).bar is False


@pytest.mark.parametrize("setting", ["optimizer.lr=1e39", "optimizer.weight_decay=1e39"])
def test_an_optimiser_value_beyond_float32_is_refused_before_training(tmp_path, setting):
    """torch's optimisers multiply float32 tensors by it: beyond float32's range the first step
    failed with a traceback ("cannot be converted to type float without overflow")."""
    cfg = compose_run("experiment=smoke", "logger=none", setting, run_dir=tmp_path / "run")
    key = setting.split("=")[0]
    assert f"{key}=1e+39: must be a finite number" in "\n".join(config_errors(cfg))
    assert any(e.startswith(key) and e.endswith("≤ 3.40282e+38") for e in config_errors(cfg))
