"""Multilingual open_clip models (a Hugging Face text tower, e.g. xlm-roberta-base-ViT-B-32) end to end.

Their weights and the real xlm-roberta-base tokenizer cannot be fetched here, so the fixture builds
a model of the same kind offline: an XLM-RoBERTa text tower (2 layers, seeded random weights) with a
SentencePiece-style Unigram tokenizer trained on a few sentences in five languages, saved as a
``local-dir:`` folder exactly as open_clip loads a multilingual model (``open_clip_config.json``
with ``hf_model_name``/``hf_tokenizer_name``, ``config.json``, ``tokenizer.json``). Everything from
tokenizer to index to CLI runs for real; only the weights are meaningless.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import pixseek
from pixseek.errors import ModelLoadError

transformers = pytest.importorskip("transformers")

CORPUS = [
    "a photo of a cat", "a dog running on the beach", "a red bicycle against a brick wall", "a cup of coffee",
    "一只猫在沙发上", "海滩上奔跑的狗", "靠在砖墙上的红色自行车", "一杯咖啡", "火箭发射", "月亮",
    "un chat sur le canapé", "ein Hund am Strand", "猫がソファーにいる",
]
QUERY_ZH = "一只猫"  # "a cat"


def write_tiny_multilingual(folder: Path, seed: int = 0) -> Path:
    """A tiny open_clip model with an XLM-RoBERTa text tower, as a local-dir folder (offline)."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaConfig, XLMRobertaTokenizerFast  # the fast one: no sentencepiece needed

    folder.mkdir(parents=True, exist_ok=True)
    # XLM-R's special tokens, ids and pre-tokenisation (SentencePiece "▁" word starts)
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(CORPUS * 10, trainers.UnigramTrainer(
        vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                        pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>",
                        ).save_pretrained(folder)
    XLMRobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=80, pad_token_id=1, bos_token_id=0,
                     eos_token_id=2).save_pretrained(folder)
    config = {
        "model_cfg": {
            "embed_dim": 32,
            "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
            # as in open_clip's xlm-roberta-base-ViT-B-32.json, with the HF names pointing at this folder
            "text_cfg": {"hf_model_name": str(folder), "hf_tokenizer_name": str(folder),
                         "hf_pooler_type": "mean_pooler", "hf_proj_type": "linear", "context_length": 77},
        },
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                           "std": [0.26862954, 0.26130258, 0.27577711]},
    }
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{folder}", pretrained=None, pretrained_text=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory) -> str:
    return f"local-dir:{write_tiny_multilingual(tmp_path_factory.mktemp('tiny-xlmr'))}"


def test_tokenizer_is_xlm_roberta_and_covers_chinese(multilingual):
    from pixseek.encoders import ModelSpec, load_encoder

    enc = load_encoder(ModelSpec(multilingual))
    assert type(enc.tokenizer).__name__ == "HFTokenizer"
    assert type(enc.model.text).__name__ == "HFTextEncoder"
    ids = enc.tokenizer([QUERY_ZH])[0].tolist()
    assert ids[0] == 0 and 3 not in ids  # <s> first, no <unk>
    vecs = enc.encode_texts([QUERY_ZH, "海滩上奔跑的狗", "a photo of a cat"])
    assert vecs.shape == (3, 32) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert len({tuple(v.round(4)) for v in vecs}) == 3
    again = load_encoder(ModelSpec(multilingual)).encode_texts([QUERY_ZH])  # weights load, not re-init
    np.testing.assert_allclose(again[0], vecs[0], atol=1e-5)


def test_chinese_query_end_to_end(multilingual, gallery, tmp_path, capsys, monkeypatch):
    from pixseek import cli

    shutil.copy(gallery / "chelsea.jpg", gallery / "猫.jpg")
    with pixseek.open(tmp_path / "db", model=multilingual) as lib:
        assert lib.index([gallery]).added == 12
        hits = lib.search(QUERY_ZH, k=5)
        assert len(hits) == 5 and all(-1 <= h.score <= 1 for h in hits)
        combined = lib.search(QUERY_ZH, images=[gallery / "猫.jpg"], negatives=["狗"], k=12, collapse=False)
        assert len(combined) == 12
        # a template is the vector side's (the words side reads the words as typed)
        assert [h.id for h in lib.search("猫", template="一张{}的照片", k=4, mode="visual")] == \
            [h.id for h in lib.search("一张猫的照片", k=4, mode="visual")]
    monkeypatch.setattr(cli, "quiet_libraries", lambda: None)
    assert cli.main(["search", QUERY_ZH, "--db", str(tmp_path / "db"), "--json", "-k", "12"]) == 0
    out = capsys.readouterr().out
    assert "猫.jpg" in out  # UTF-8 paths printed as they are (ensure_ascii=False)
    printed = [json.loads(line) for line in out.splitlines()]
    assert len(printed) == 11 and printed[0]["id"] == hits[0].id  # 12 files, one a copy


def test_missing_transformers_is_one_clear_line(multilingual, monkeypatch):
    import open_clip.hf_model

    from pixseek.encoders import ModelSpec, load_encoder

    monkeypatch.setattr(open_clip.hf_model, "transformers", None)
    with pytest.raises(ModelLoadError, match=r"needs the transformers package.*pixseek\[multilingual\]") as info:
        load_encoder(ModelSpec(multilingual))
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_real_multilingual_model_offline_says_what_is_missing(monkeypatch):
    """xlm-roberta-base-ViT-B-32 gets its default tag, and without network a one-line reason."""
    from pixseek.encoders import ModelSpec, load_encoder, normalize_spec

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = normalize_spec(ModelSpec("xlm-roberta-base-ViT-B-32", device="cpu"))
    assert spec.pretrained == "laion5b_s13b_b90k"
    with pytest.raises(ModelLoadError, match="xlm-roberta-base-ViT-B-32 weights laion5b_s13b_b90k") as info:
        load_encoder(spec)
    assert "\n" not in str(info.value) and "--pretrained" in str(info.value)
