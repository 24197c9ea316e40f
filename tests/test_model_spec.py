"""Model identity (ModelSpec: parse, id, label) and the one device resolver every back end uses."""

import pytest
import torch

from pixseek.encoders import ModelSpec
from pixseek.encoders.device import resolve_device
from pixseek.errors import ModelLoadError
from pixseek.tuning import CPU_BATCH, GPU_BATCH, batch_size_for


@pytest.mark.parametrize("model_id, model, pretrained, label", [
    ("ViT-B-32|laion2b_s34b_b79k", "ViT-B-32", "laion2b_s34b_b79k", "ViT-B-32 (laion2b_s34b_b79k)"),
    ("timm:tf_efficientnet_lite0|wheel", "timm:tf_efficientnet_lite0", "wheel", "timm:tf_efficientnet_lite0 (wheel)"),
    ("hf-hub:org/repo|", "hf-hub:org/repo", None, "hf-hub:org/repo"),
    ("fake:pixels|", "fake:pixels", None, "fake:pixels"),
    ("local-dir:/m|/w/ckpt.safetensors", "local-dir:/m", "/w/ckpt.safetensors", "local-dir:/m (/w/ckpt.safetensors)"),
])
def test_parse_id_and_label_round_trip(model_id, model, pretrained, label):
    spec = ModelSpec.parse(model_id, device="cpu")
    assert (spec.model, spec.pretrained, spec.device) == (model, pretrained, "cpu")
    assert spec.id == model_id  # what an older index recorded reads back to the same id
    assert spec.label == label
    assert ModelSpec.parse(ModelSpec(model, pretrained).id) == ModelSpec(model, pretrained)


def test_a_bare_name_parses_without_a_tag():
    assert ModelSpec.parse("ViT-B-32") == ModelSpec("ViT-B-32", None, "auto")
    assert ModelSpec.parse("ViT-B-32").id == "ViT-B-32|"


@pytest.fixture
def gpus(monkeypatch):
    def see(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    return see


@pytest.mark.parametrize("count, auto", [(0, "cpu"), (2, "cuda")])
def test_auto_follows_what_torch_sees(gpus, count, auto):
    gpus(count)
    assert resolve_device("auto") == resolve_device("") == resolve_device(None) == auto
    assert resolve_device("cpu") == "cpu"


def test_an_explicit_gpu_is_kept_with_its_index(gpus):
    gpus(2)
    assert resolve_device("cuda") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ModelLoadError, match=r"torch sees 2 CUDA GPUs \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_gpu_that_is_not_there_is_one_line_error(gpus, device):
    gpus(0)
    with pytest.raises(ModelLoadError, match=f"--device {device} was asked for, but no CUDA GPU is available"):
        resolve_device(device)
    assert resolve_device(device, check=False) == device  # sizing reads the request only
    assert batch_size_for(device) == GPU_BATCH


@pytest.mark.parametrize("device", ["gpu", "mps", "cuda:x", "cuda:"])
def test_unknown_devices_are_refused(gpus, device):
    gpus(1)
    with pytest.raises(ModelLoadError, match="unknown device"):
        resolve_device(device)


def test_batch_size_follows_the_resolved_device(gpus):
    gpus(0)
    assert batch_size_for("auto") == batch_size_for("cpu") == CPU_BATCH
    gpus(1)
    assert batch_size_for("auto") == GPU_BATCH
