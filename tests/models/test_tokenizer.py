"""Tokenizer compatibility of two models: the same chat template and stop tokens, or one line naming the difference."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgetbench.models.spec import resolve
from forgetbench.models.tokenizer import check_prompt_and_stop_rules
from tests.tiny import variant

TEMPLATE = "{% for m in messages %}<s>{{ m.content }}</s>{% endfor %}"


def difference(base: Path, ckpt: Path, chat_template: bool = True) -> str | None:
    return check_prompt_and_stop_rules(resolve(str(base)), resolve(str(ckpt)), chat_template)


def test_the_same_model_has_no_difference(tiny_model):
    assert difference(tiny_model, tiny_model) is None


def test_a_template_on_one_side_only_is_named(tiny_model, tmp_path):
    templated = variant(tiny_model, tmp_path / "t", chat_template=TEMPLATE)
    assert difference(tiny_model, templated) == "chat templates differ: base has none, checkpoint has one"
    assert difference(templated, tiny_model) == "chat templates differ: base has one, checkpoint has none"
    assert difference(tiny_model, templated, chat_template=False) is None  # templates unused: no difference


def test_different_template_texts_are_named(tiny_model, tmp_path):
    a = variant(tiny_model, tmp_path / "a", chat_template=TEMPLATE)
    b = variant(tiny_model, tmp_path / "b", chat_template=TEMPLATE.replace("<s>", "<s>user: "))
    at = TEMPLATE.index("<s>") + len("<s>")
    assert (
        difference(a, b) == f"chat templates differ: base and checkpoint templates are different texts (first at character {at})"
    )
    assert difference(a, variant(tiny_model, tmp_path / "a2", chat_template=TEMPLATE)) is None


@pytest.mark.parametrize("chat_template", [True, False])
def test_an_extra_stop_token_is_named(tiny_model, tmp_path, chat_template):
    extra = variant(tiny_model, tmp_path / "e", eos=[2, 5])
    assert difference(tiny_model, extra, chat_template) == "stop tokens differ: base {2} vs checkpoint {2, 5}"
    assert difference(tiny_model, variant(tiny_model, tmp_path / "same", eos=[2])) is None  # a list of the same ids


TEXTS = ["Hello wörld! 你好，世界 🎉🎉 x = 3.14\n  indented", "The answer is 42.</s>", "ÅÄÖ ñ 日本語のテキスト 🙂👍🏽"]


def assert_pieces_join(tok) -> None:
    """Each token's piece is the text it adds (a token ending inside a multi-byte character adds nothing;
    the one completing it carries it), and they join to the decoded text, also beyond the decoding window."""
    from forgetbench.models.tokenizer import pieces

    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False)
        got = pieces(tok, ids)
        assert len(got) == len(ids)
        assert "".join(got) == tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        assert "\ufffd" not in "".join(got)
    long = tok.encode(" ".join(TEXTS) * 20, add_special_tokens=False)  # beyond the decoding window
    assert "".join(pieces(tok, long)) == tok.decode(long, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def test_pieces_join_to_the_decoded_text_one_per_token(tiny_model):
    """The report colours a response token by token (SmolLM2's tokenizer: tests/integration/test_embedded_models.py)."""
    from forgetbench.models.tokenizer import load_tokenizer

    assert_pieces_join(load_tokenizer(resolve(str(tiny_model))))
