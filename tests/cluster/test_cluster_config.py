"""Checks of the cluster deployment files: ray_cluster.yaml, cluster/Dockerfile, requirements.lock,
cluster/kuberay/*.yaml and cluster/README.md.

Nothing here contacts AWS or Kubernetes: Ray's cluster-config validation is the offline part of `ray up`
(every AWS API call is made to fail), the manifests are read as YAML.
"""
from __future__ import annotations

import copy
import ipaddress
import re
import shlex
import sys
from importlib import metadata
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:                       # Python 3.10
    tomllib = pytest.importorskip("tomli")
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_YAML = ROOT / "ray_cluster.yaml"
CLUSTER = ROOT / "cluster"
DOCKERFILE = CLUSTER / "Dockerfile"
LOCK = ROOT / "requirements.lock"
KUBERAY = CLUSTER / "kuberay"
GUIDE = CLUSTER / "README.md"

TOTAL_GPUS = 32
# vCPUs and GPUs of the 8-GPU instance types the config suggests: `resources` must match the type.
INSTANCE_RESOURCES = {"p4d.24xlarge": (96, 8), "p4de.24xlarge": (96, 8), "p5.48xlarge": (192, 8),
                      "g5.48xlarge": (192, 8), "g6.48xlarge": (192, 8), "g6e.48xlarge": (192, 8)}
RAY_PORTS = (6379, 8265, 10001)          # GCS, dashboard / job API, Ray client


# --------------------------------------------------------------------------------------------- helpers

def cluster_config() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in pyproject()["project"]["dependencies"]]
    return {canon(r.name): r for r in reqs}


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints() -> dict[str, Version]:
    """requirements.lock's pins (the one list, used by the README, CI, the image and the launcher)."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"requirements.lock: not a 'name==version' pin: {line!r}"
        pins[canon(m.group(1))] = Version(m.group(2))
    return pins


def dockerfile_args() -> dict[str, str]:
    """Default values of the Dockerfile's ARGs (the first definition wins) and the resolved FROM image."""
    args: dict[str, str] = {}
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        m = re.match(r"\s*ARG\s+(\w+)=(\S*)\s*$", line)
        if m:
            args.setdefault(m.group(1), m.group(2))
    froms = [ln.split()[1] for ln in text.splitlines() if re.match(r"\s*FROM\s", ln)]
    assert len(froms) == 1, f"expected one FROM line in the Dockerfile, found {froms}"
    args["FROM"] = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], froms[0])
    return args


def ray_image_tag(ray: str, python: str) -> str:
    """rayproject/ray's tag format: <ray version>-py<major><minor>-gpu."""
    major, minor = python.split(".")[:2]
    return f"rayproject/ray:{ray}-py{major}{minor}-gpu"


def manifests() -> dict[str, list[dict]]:
    out = {}
    for path in sorted(KUBERAY.glob("*.yaml")):
        out[path.name] = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return out


def ray_cluster_specs() -> list[tuple[str, dict]]:
    """(where, RayCluster spec) of every manifest: RayCluster.spec and RayJob.spec.rayClusterSpec."""
    specs = []
    for name, docs in manifests().items():
        for doc in docs:
            if doc["kind"] == "RayCluster":
                specs.append((f"{name}:{doc['kind']}", doc["spec"]))
            elif doc["kind"] == "RayJob" and "rayClusterSpec" in doc["spec"]:
                specs.append((f"{name}:{doc['kind']}", doc["spec"]["rayClusterSpec"]))
    return specs


def containers(spec: dict):
    """(group name, container) of the head and every worker group."""
    for c in spec["headGroupSpec"]["template"]["spec"]["containers"]:
        yield "head", c
    for g in spec.get("workerGroupSpecs", []):
        for c in g["template"]["spec"]["containers"]:
            yield g["groupName"], c


def gpus(container: dict) -> int:
    res = container.get("resources", {})
    lim = res.get("limits", {}).get("nvidia.com/gpu", 0)
    req = res.get("requests", {}).get("nvidia.com/gpu", lim)
    assert int(req) == int(lim), f"{container['name']}: GPU requests and limits differ"
    return int(lim)


@pytest.fixture
def no_aws(monkeypatch):
    """Every AWS API call fails: the checks below must not depend on (or reach) AWS."""
    botocore_client = pytest.importorskip("botocore.client")

    def refuse(self, operation_name, api_params):
        raise AssertionError(f"test tried to call AWS: {operation_name}")

    monkeypatch.setattr(botocore_client.BaseClient, "_make_api_call", refuse)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)


# ------------------------------------------------------------------ 1. Ray's own cluster-config checks

def test_ray_cluster_yaml_passes_ray_validation(no_aws):
    """What `ray up` does to the file before touching AWS: load it, look up the provider, merge Ray's
    defaults (`prepare_config`: fillout_defaults, merge_setup_commands, validate_docker_config,
    fill_node_type_min_max_workers) and check it against ray-schema.json (`validate_config`)."""
    from ray.autoscaler._private.providers import _NODE_PROVIDERS, _get_default_config
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = cluster_config()
    assert cfg["provider"]["type"] == "aws"
    assert _NODE_PROVIDERS.get("aws") is not None
    prepared = prepare_config(copy.deepcopy(cfg))
    validate_config(prepared)

    # fillout_defaults merges Ray's AWS defaults.yaml only at the top level: a key missing here would
    # silently bring in Ray's example values (e.g. its setup_commands install a nightly Ray wheel).
    missing = set(_get_default_config(cfg["provider"])) - set(cfg)
    assert not missing, f"ray_cluster.yaml leaves these to Ray's example defaults: {sorted(missing)}"
    assert prepared["docker"]["image"] == cfg["docker"]["image"]
    for key in ("head_setup_commands", "worker_setup_commands"):
        assert prepared[key] == cfg["setup_commands"] + cfg[key]


def test_node_configs_are_valid_run_instances_parameters(no_aws):
    """Ray passes each node_config to EC2 RunInstances: check the keys and types against botocore's
    offline service model (catches typos such as 'IamInstanceProfil' before a launch fails)."""
    botocore_session = pytest.importorskip("botocore.session")
    from botocore.validate import ParamValidator

    shape = botocore_session.get_session().get_service_model("ec2").operation_model("RunInstances").input_shape
    for name, node_type in cluster_config()["available_node_types"].items():
        params = dict(node_type["node_config"], MinCount=1, MaxCount=1)
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), f"{name}: {report.generate_report()}"


def test_ray_cluster_yaml_sizes_32_gpus():
    cfg = cluster_config()
    head = cfg["head_node_type"]
    types = cfg["available_node_types"]
    assert types[head]["resources"].get("GPU", 0) == 0, "the head node is meant to be a CPU node"
    assert types[head]["resources"].get("CPU") == 0, "keep Train/Tune workers off the head (CPU: 0)"
    workers = {k: v for k, v in types.items() if k != head}
    assert len(workers) == 1
    (name, gpu_type), = workers.items()
    assert gpu_type["min_workers"] == 0
    assert gpu_type["max_workers"] * gpu_type["resources"]["GPU"] == TOTAL_GPUS
    assert cfg["max_workers"] >= gpu_type["max_workers"]
    instance = gpu_type["node_config"]["InstanceType"]
    assert instance in INSTANCE_RESOURCES, f"{instance}: add its vCPUs/GPUs to INSTANCE_RESOURCES"
    assert (gpu_type["resources"]["CPU"], gpu_type["resources"]["GPU"]) == INSTANCE_RESOURCES[instance], (
        f"{name}: resources do not match {instance}")
    assert 0 < cfg["idle_timeout_minutes"] <= 60
    # workers read S3 through an instance profile, not keys
    assert "IamInstanceProfile" in gpu_type["node_config"]


def test_ray_cluster_yaml_installs_this_package():
    cfg = cluster_config()
    assert cfg["file_mounts"].get("~/deepwas_dist") == "."
    setup = " ".join(cfg["setup_commands"])
    assert "-e ~/deepwas_dist" in setup
    assert "-c ~/deepwas_dist/requirements.lock" in setup
    # the repo's .gitignore keeps .venv & co out of the rsync; .git is excluded explicitly
    assert ".gitignore" in cfg["rsync_filter"]
    assert "**/.git" in cfg["rsync_exclude"]


# ------------------------------------------------------------------------------- 2. KubeRay manifests

def test_kuberay_manifests_kinds_and_versions():
    docs = manifests()
    assert set(docs) == {"raycluster.yaml", "rayjob.yaml"}
    kinds = {name: [(d["apiVersion"], d["kind"]) for d in ds] for name, ds in docs.items()}
    assert kinds == {"raycluster.yaml": [("ray.io/v1", "RayCluster")], "rayjob.yaml": [("ray.io/v1", "RayJob")]}
    raycluster = docs["raycluster.yaml"][0]["spec"]
    assert raycluster["enableInTreeAutoscaling"] is True
    job = docs["rayjob.yaml"][0]["spec"]
    assert job["shutdownAfterJobFinishes"] is True
    entry = shlex.split(job["entrypoint"])
    assert entry[:2] == ["python", "/home/ray/deepwas_dist/launch/train.py"]
    args = train_parser().parse_args(entry[2:])
    assert args.gpus == TOTAL_GPUS and args.traits == "all"
    assert args.data.startswith("s3://") and args.storage.startswith("s3://")


@pytest.mark.parametrize("where,spec", [pytest.param(w, s, id=w) for w, s in ray_cluster_specs()])
def test_kuberay_gpu_counts(where, spec):
    head_gpus = sum(gpus(c) for g, c in containers(spec) if g == "head")
    assert head_gpus == 0, f"{where}: the head pod should not take GPUs"
    groups = spec["workerGroupSpecs"]
    total = 0
    for g in groups:
        per_pod = sum(gpus(c) for c in g["template"]["spec"]["containers"])
        assert 0 <= g.get("minReplicas", 0) <= g["replicas"] <= g["maxReplicas"]
        total += per_pod * g["maxReplicas"]
        assert per_pod == 8, f"{where}/{g['groupName']}: one 8-GPU node per pod"
        if not spec.get("enableInTreeAutoscaling"):
            assert g["replicas"] * per_pod == TOTAL_GPUS, f"{where}: a fixed-size cluster must start 32 GPUs"
    assert total == TOTAL_GPUS, f"{where}: worker groups reach {total} GPUs, expected {TOTAL_GPUS}"


# ------------------------------------------------------------------------------------ 3. versions agree

def test_versions_agree():
    args = dockerfile_args()
    ray_v, torch_v, py_v = args["RAY_VERSION"], args["TORCH_VERSION"], args["PYTHON_VERSION"]

    # the Dockerfile's base image, its Python and ray_cluster.yaml's image are one and the same tag
    assert args["FROM"] == ray_image_tag(ray_v, py_v)
    assert cluster_config()["docker"]["image"] == ray_image_tag(ray_v, py_v)

    # pyproject.toml's ranges admit the pinned versions (and Python)
    reqs = requirements()
    assert reqs["ray"].specifier.contains(ray_v), f"ray {ray_v} vs pyproject {reqs['ray']}"
    assert {"default", "train", "tune"} <= reqs["ray"].extras
    assert reqs["torch"].specifier.contains(torch_v), f"torch {torch_v} vs pyproject {reqs['torch']}"
    from packaging.specifiers import SpecifierSet
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(py_v)

    # requirements.lock pins every dependency (test extras too), within pyproject's ranges, same ray/torch
    pins = constraints()
    extras = [Requirement(r) for group in pyproject()["project"]["optional-dependencies"].values() for r in group]
    test_reqs = {canon(r.name): r for r in extras if canon(r.name) != "gpytorch"}    # [bench] is not locked
    for name, req in {**reqs, **test_reqs}.items():
        assert name in pins, f"not pinned in requirements.lock: {name}"
        assert req.specifier.contains(pins[name]), f"requirements.lock {name}=={pins[name]} vs pyproject {req}"
    assert pins["ray"] == Version(ray_v) and pins["torch"] == Version(torch_v)

    # ray_cluster.yaml's setup_commands pin the same ray and torch
    setup = " ".join(cluster_config()["setup_commands"])
    assert f'"ray[default,train,tune]=={ray_v}"' in setup
    assert f'"torch=={torch_v}"' in setup
    assert re.findall(r"==([\w.]+)", setup) == [ray_v, torch_v], "unexpected extra pins in setup_commands"

    # the KubeRay manifests declare the same Ray and use an image tagged with it
    for where, spec in ray_cluster_specs():
        assert spec["rayVersion"] == ray_v, where
        for group, c in containers(spec):
            tag = c["image"].rsplit(":", 1)[1]
            assert f"ray{ray_v}-py{py_v.replace('.', '')}" in tag, f"{where}/{group}: image {c['image']}"


def test_versions_match_the_tested_environment():
    """The pinned Ray / torch / Python are the ones this test suite runs with."""
    import ray
    import torch

    args = dockerfile_args()
    assert ray.__version__ == args["RAY_VERSION"]
    assert Version(torch.__version__).base_version == args["TORCH_VERSION"]   # 2.13.0+cpu -> 2.13.0
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == args["PYTHON_VERSION"]
    assert Version(metadata.version("ray")) == constraints()["ray"]


def test_dockerfile_copies_files_that_exist():
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if re.match(r"\s*COPY\s", line):
            parts = [p for p in line.split()[1:] if not p.startswith("--")]
            for src in parts[:-1]:
                assert (ROOT / src).exists(), f"Dockerfile COPYs missing {src}"
    assert "-c requirements.lock" in text
    assert "-e ." in text


# ------------------------------------------------------------------------------------------ 4. secrets

FILES = [CLUSTER_YAML, *sorted(p for p in CLUSTER.rglob("*") if p.is_file())]
SECRET_PATTERNS = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),                                       # access key IDs
    re.compile(r"aws_secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+]{20,}", re.I),      # key = value
    re.compile(r"aws_session_token\s*[=:]\s*[\"']?[A-Za-z0-9/+]{20,}", re.I),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),                # bare 40-char secret
]


def find_secrets(text: str) -> list[str]:
    return [m.group(0) for p in SECRET_PATTERNS for m in p.finditer(text)]


def test_secret_patterns_work():
    fake_id = "AKIA" + "ABCDEFGHIJKLMNOP"
    fake_secret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEYab"
    assert find_secrets(f"key: {fake_id}")
    assert find_secrets(f"aws_secret_access_key = {fake_secret}")
    assert find_secrets(f"AWS_SECRET_ACCESS_KEY: '{fake_secret}'")
    assert not find_secrets("--from-literal=AWS_SECRET_ACCESS_KEY=\"$(aws configure get aws_secret_access_key)\"")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_secrets_in_files(path):
    assert not find_secrets(path.read_text(errors="replace")), f"{path.relative_to(ROOT)} contains a credential"


def test_no_credentials_in_cluster_config():
    cfg = cluster_config()
    assert "aws_credentials" not in cfg["provider"], "use `aws configure` / instance profiles, not keys in the file"
    commands = " ".join(str(x) for k, v in cfg.items() if k.endswith("commands") for x in v)
    assert not re.search(r"AWS_(SECRET_ACCESS_KEY|ACCESS_KEY_ID|SESSION_TOKEN)\s*=", commands)


def test_kuberay_credentials_come_from_a_secret():
    credential = re.compile(r"(SECRET|TOKEN|PASSWORD|ACCESS_KEY)", re.I)
    seen = 0
    for where, spec in ray_cluster_specs():
        for group, c in containers(spec):
            for env in c.get("env", []):
                if credential.search(env["name"]):
                    seen += 1
                    assert "value" not in env, f"{where}/{group}: {env['name']} is inline"
                    assert "secretKeyRef" in env["valueFrom"], f"{where}/{group}: {env['name']}"
    assert seen, "expected the AWS credentials to come from a Secret"


# ---------------------------------------------------------------------------- 5. nothing open to the world

def _world(rule: dict) -> bool:
    nets = [r["CidrIp"] for r in rule.get("IpRanges", [])] + [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
    return any(ipaddress.ip_network(n, strict=False).prefixlen == 0 for n in nets)


def _covers(rule: dict, port: int) -> bool:
    if str(rule["IpProtocol"]) == "-1":
        return True
    return rule.get("FromPort", -1) <= port <= rule.get("ToPort", 65535)


def test_head_security_group_keeps_ray_ports_private():
    """The rules Ray would put on the head node's security group if it creates it (`ray up`'s own
    `_create_default_inbound_rules`: intra-cluster + SSH + ours) open no Ray port to the internet."""
    from ray.autoscaler._private.aws.config import _create_default_inbound_rules

    cfg = cluster_config()
    head = cfg["available_node_types"][cfg["head_node_type"]]["node_config"]
    assert "SecurityGroupIds" not in head, "a hand-picked group cannot be checked here"
    ours = cfg["provider"]["security_group"]["IpPermissions"]
    rules = _create_default_inbound_rules({"sg-00000000000000000"}, ours)
    for rule in rules:
        if _world(rule):
            for port in RAY_PORTS:
                assert not _covers(rule, port), f"port {port} open to the world: {rule}"
    # our own rules open nothing to the world at all (only Ray's built-in SSH rule does)
    for rule in ours:
        assert not _world(rule), f"ray_cluster.yaml opens {rule} to the world"
        assert (rule["FromPort"], rule["ToPort"]) == (22, 22), f"only SSH should be allowed in: {rule}"


def test_kuberay_services_are_not_public():
    for where, spec in ray_cluster_specs():
        assert spec["headGroupSpec"].get("serviceType", "ClusterIP") == "ClusterIP", where


def test_guide_opens_no_port_to_the_world():
    text = GUIDE.read_text()
    for line in text.replace("\\\n", " ").splitlines():
        if "authorize-security-group-ingress" in line:
            assert "0.0.0.0/0" not in line and "::/0" not in line, line
    assert cluster_config()["provider"]["security_group"]["GroupName"] in text


# ------------------------------------------------------------------------ the guide's commands are real

def _load_launcher(name: str):
    path = ROOT / "launch" / f"{name}.py"
    spec = spec_from_file_location(f"_launch_{name}", path)
    mod = module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def train_parser():
    return _load_launcher("train").parser()


def _commands(text: str, script: str) -> list[list[str]]:
    """Argument lists of every `python launch/<script>.py ...` in the guide's code blocks."""
    out = []
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.S)
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            m = re.search(rf"python (?:\S*/)?launch/{script}\.py(.*)", line)
            if m:
                out.append(shlex.split(m.group(1).split("#", 1)[0]))
    return out


def test_guide_train_and_prepare_commands_parse():
    text = GUIDE.read_text()
    train = _commands(text, "train")
    assert any("--gpus" in a and "32" in a for a in train)
    for argv in train:
        train_parser().parse_args(argv)
    prepare = _commands(text, "prepare")
    assert prepare
    p = _load_launcher("prepare").parser()
    for argv in prepare:
        p.parse_args(argv)


def test_guide_tune_command_parses_if_tune_exists():
    argvs = _commands(GUIDE.read_text(), "tune")
    assert argvs, "the guide should show a Tune scan"
    if not (ROOT / "launch" / "tune.py").exists():
        pytest.skip("launch/tune.py not written yet")
    mod = _load_launcher("tune")
    if not hasattr(mod, "parser"):
        pytest.skip("launch/tune.py has no parser()")
    for argv in argvs:
        mod.parser().parse_args(argv)


def test_guide_mentions_the_essentials():
    text = GUIDE.read_text()
    for needle in ("ray up ray_cluster.yaml", "ray down ray_cluster.yaml", "ray dashboard ray_cluster.yaml",
                   "ray job submit", "ray job logs", "--working-dir .", "pip install", "aws configure",
                   "cluster/kuberay/raycluster.yaml", "cluster/kuberay/rayjob.yaml", "cluster/Dockerfile",
                   "kubectl create secret generic deepwas-aws", "quota"):
        assert needle in text, f"cluster/README.md does not mention {needle!r}"
