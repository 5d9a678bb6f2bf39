"""Tokenizers for KL: compatibility of two models, prompt rendering, encoding, stop tokens."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from forgetbench.core.errors import ModelSpecError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from forgetbench.core.model import ResolvedModel


def load_tokenizer_at(folder: Path, name: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer saved in `folder` (ModelSpecError naming `name` when it cannot be loaded)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelSpecError(f"{name}: cannot load its tokenizer ({exc})") from None


def load_tokenizer(model: ResolvedModel) -> PreTrainedTokenizerBase:
    """A model's tokenizer (an adapter runs with its base's, which `path` is)."""
    return load_tokenizer_at(model.path, model.name, model.trust_remote_code)


def tokenizer_difference(
    a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase, templates: bool = False, ignore: tuple[str, ...] = ()
) -> str | None:
    """How two tokenizers differ in what they encode: the vocabulary, the special tokens (but those in
    `ignore`) and, with `templates`, the chat template; None when they do not."""
    va, vb = a.get_vocab(), b.get_vocab()
    if va != vb:
        only = sorted(set(va.items()) ^ set(vb.items()))[:1]
        return f"different vocabularies ({len(va)} vs {len(vb)} tokens, e.g. {only[0] if only else '?'})"
    sa = {k: str(v) for k, v in a.special_tokens_map.items() if k not in ignore}
    sb = {k: str(v) for k, v in b.special_tokens_map.items() if k not in ignore}
    if sa != sb:
        return f"different special tokens ({sa} vs {sb})"
    if templates:
        return _template_difference(a.chat_template, b.chat_template)
    return None


def check_same_vocabulary(base: ResolvedModel, ckpt: ResolvedModel) -> None:
    """KL between the two models is defined only over one vocabulary: same tokens, same ids, same
    special tokens. Equal tokenizer digests pass at once; otherwise both tokenizers are compared."""
    if base.fingerprint.tokenizer == ckpt.fingerprint.tokenizer:
        return
    difference = tokenizer_difference(load_tokenizer(base), load_tokenizer(ckpt))
    if difference:
        raise ModelSpecError(f"{base.name} and {ckpt.name} have {difference}: KL between them is undefined")


def _ids(ids: set[int]) -> str:
    return "{" + ", ".join(map(str, sorted(ids))) + "}"


def _template_difference(a: object, b: object) -> str | None:
    if a == b:
        return None
    if not a or not b:
        return f"chat templates differ: base has {'one' if a else 'none'}, checkpoint has {'one' if b else 'none'}"
    sa, sb = str(a), str(b)
    at = next((i for i, (x, y) in enumerate(zip(sa, sb)) if x != y), min(len(sa), len(sb)))
    return f"chat templates differ: base and checkpoint templates are different texts (first at character {at})"


def check_prompt_and_stop_rules(base: ResolvedModel, ckpt: ResolvedModel, chat_template: bool) -> str | None:
    """One line naming how the two models would render prompts or stop responses differently, or None.

    Forward KL samples with the base's template and stop tokens, reverse KL with the checkpoint's; when
    they differ the two directions measure different things. Compared: the chat template (presence and
    text; only when `chat_template` is on) and the stop-token sets of `stop_ids`."""
    tb = load_tokenizer(base)
    tc = tb if base.fingerprint.tokenizer == ckpt.fingerprint.tokenizer else load_tokenizer(ckpt)
    if chat_template and (diff := _template_difference(tb.chat_template, tc.chat_template)):
        return diff
    sb, sc = stop_ids(base, tb), stop_ids(ckpt, tc)
    if sb != sc:
        return f"stop tokens differ: base {_ids(sb)} vs checkpoint {_ids(sc)}"
    return None


def render(tok: PreTrainedTokenizerBase, prompts: list[str], chat_template: bool) -> list[str]:
    """Each prompt as a user turn with the generation prompt when the tokenizer has a chat template
    and `chat_template` is on; the raw text otherwise."""
    if not (chat_template and tok.chat_template):
        return list(prompts)
    return [
        str(tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True))
        for p in prompts
    ]


def encode(tok: PreTrainedTokenizerBase, rendered: list[str], templated: bool) -> list[list[int]]:
    """Token ids; a chat template already writes its own BOS, so special tokens are added only to raw text."""
    return [tok(text, add_special_tokens=not templated)["input_ids"] for text in rendered]


def stop_ids(model: ResolvedModel, tok: PreTrainedTokenizerBase) -> set[int]:
    """EOS ids: the tokenizer's and those in generation_config.json."""
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    gen = model.path / "generation_config.json"
    if gen.is_file():
        eos = json.loads(gen.read_text()).get("eos_token_id")
        ids |= set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if not ids:
        raise ModelSpecError(f"{model.name}: no EOS token; responses could not stop")
    return ids


PIECE_WINDOW = 8
"""Tokens of left context each piece is decoded with (`pieces`)."""
MAX_PENDING = 8
"""Tokens a piece waits for to complete a character (a UTF-8 character is at most 4 bytes)."""


def pieces(tok: PreTrainedTokenizerBase, ids: list[int]) -> list[str]:
    """The text each token adds to the decoded response: `"".join(pieces)` is always the response's text
    (special tokens included). Token t's piece is decode(ids[s:t+1]) minus decode(ids[s:t]) with s a few
    tokens back (linear time; the window keeps a tokenizer's word-start rules). A token that ends inside a
    multi-byte character gets `""` and the token that completes it carries it (at most `MAX_PENDING` wait).
    Where a tokenizer rewrites earlier text as tokens are added (the windows then do not join to the whole),
    the pieces come from decoding each prefix instead (quadratic time, exact: `_prefix_pieces`)."""

    def text(a: int, b: int) -> str:
        return str(tok.decode(ids[a:b], skip_special_tokens=False, clean_up_tokenization_spaces=False))

    out: list[str] = []
    pending = 0  # tokens whose bytes have not yet made a whole character
    for t in range(len(ids)):
        s = max(0, t - pending - PIECE_WINDOW)
        whole = text(s, t + 1)
        if whole.endswith("\ufffd") and t + 1 < len(ids) and pending < MAX_PENDING:
            out.append("")
            pending += 1
            continue
        before = text(s, t - pending)
        out.append(whole[len(before) :] if whole.startswith(before) else "\0")  # "\0": the windows disagree
        pending = 0
    return out if "".join(out) == text(0, len(ids)) else _prefix_pieces(text, len(ids))


def _prefix_pieces(text: Callable[[int, int], str], n: int) -> list[str]:
    """Pieces from each prefix's decode: token t adds what decode(ids[:t+1]) has beyond its common prefix with
    the text so far, earlier pieces cut back where a later decode rewrote them; they join to decode(ids)."""
    out: list[str] = []
    joined = ""
    for t in range(n):
        full = text(0, t + 1)
        if full.endswith("\ufffd") and t + 1 < n:
            out.append("")
            continue
        keep = next((i for i, (a, b) in enumerate(zip(full, joined)) if a != b), min(len(full), len(joined)))
        if keep < len(joined):  # a later decode rewrote earlier text: cut earlier pieces back to the common prefix
            total, cut = 0, []
            for p in out:
                cut.append(p[: max(0, keep - total)])
                total += len(cut[-1])
            out = cut
        out.append(full[keep:])
        joined = full
    return out
