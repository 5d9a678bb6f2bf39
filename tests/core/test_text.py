"""Untrusted text made safe to show: control and bidi characters visible, one Markdown escape."""

from __future__ import annotations

from forgetbench.core.text import md_text, visible


def test_controls_and_bidi_overrides_are_shown_not_applied():
    text = "a\x00b\x1bc\u202ed\u2066e\re\x7ff\x9bg\th\ni"
    assert visible(text) == "a␀b␛c<U+202E>d<U+2066>e␍e␡f\\x9bg\th\ni"  # tab and newline keep the layout
    assert visible("plain, ünïcode ✓") == "plain, ünïcode ✓"


def test_markdown_text_is_literal():
    hostile = "<img src=x onerror=alert(1)>|`x`*b*[l](javascript:y)\n# h &amp;\x1b"
    out = md_text(hostile)
    assert "<" not in out and ">" not in out and "\n" not in out and "\x1b" not in out
    assert "\\|" in out and "\\`x\\`" in out and "\\*b\\*" in out and "[l\\](" in out  # no link
    assert md_text("# h") == "\\# h" and md_text("- item") == "\\- item" and md_text("[0.1, 0.2]") == "[0.1, 0.2]"
    assert "&amp;amp;" in out and "␛" in out  # an entity in the input shows as written
    assert md_text("fb_piqa_lite") == "fb_piqa_lite" and md_text("_em_") == "\\_em\\_"  # only an underscore that could emphasise
