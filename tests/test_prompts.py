"""Behaviour of the synthetic DALL·E 3 revised prompts in ``aiml_mock.core.prompts``."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aiml_mock.core.prompts as prompts_module
from aiml_mock.core.prompts import MAX_REVISED_PROMPT_CHARS, revise_prompt

T_REX = "A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses."
PROMPTS = [
    T_REX,
    "a watercolor painting of a fox in the snow",
    "Ein Leuchtturm bei Nacht, Sturm, hohe Wellen",
    "futuristic city skyline at dusk with flying cars!",
]
LEAD_IN_WORDS = {
    "create",
    "generate",
    "an",
    "a",
    "image",
    "picture",
    "visualize",
    "visualise",
    "envision",
    "imagine",
    "please",
}
# Controls, separators, bidi overrides, BOM, a lone surrogate and zero-width joiners, plus lead-in words and spaces.
NASTY_PIECES = [
    *"\x00\t\n\r\x0b\x1b\x7f\x85\xa0\u2028\u2029\u202e\u2066\ufeff\ud800\u200d.!? ",
    "Visualize ",
    "An image of:",
    "A ",
    "\u05e9\u05dc\u05d5\u05dd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
]


def _has_unsafe_chars(text: str) -> bool:
    """True when text holds control characters, lone surrogates or line separators."""
    return any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in text)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_same_inputs_give_the_same_revised_prompt(prompt: str) -> None:
    first = revise_prompt(prompt, style="natural", quality="hd", seed=42)
    assert revise_prompt(prompt, style="natural", quality="hd", seed=42) == first


def test_revised_prompt_is_identical_in_a_fresh_process() -> None:
    # The module is loaded from its file so the check does not depend on the rest of the package importing.
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('prompts_copy', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(module.revise_prompt(sys.argv[2], style='vivid', seed=7), end='')\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONIOENCODING": "utf-8"}
    argv = [sys.executable, "-c", code, prompts_module.__file__ or "", T_REX]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, encoding="utf-8", check=True)
    assert result.stdout == revise_prompt(T_REX, style="vivid", seed=7)


def test_different_seeds_usually_give_different_wording() -> None:
    outputs = {revise_prompt(T_REX, seed=seed) for seed in range(20)}
    assert len(outputs) >= 15


def test_vivid_and_natural_differ_for_the_same_prompt() -> None:
    for prompt in PROMPTS:
        for seed in range(10):
            assert revise_prompt(prompt, style="vivid", seed=seed) != revise_prompt(prompt, style="natural", seed=seed)


def test_vivid_leans_dramatic_and_natural_leans_subdued() -> None:
    vivid = " ".join(revise_prompt(T_REX, style="vivid", seed=s) for s in range(30)).lower()
    natural = " ".join(revise_prompt(T_REX, style="natural", seed=s) for s in range(30)).lower()
    assert "dramatic" in vivid and "saturated" in vivid
    assert "soft" in natural and "realistic" in natural
    assert "dramatic" not in natural


def test_hd_adds_a_sentence_about_fine_detail() -> None:
    for seed in range(10):
        standard = revise_prompt(T_REX, quality="standard", seed=seed)
        hd = revise_prompt(T_REX, quality="hd", seed=seed)
        assert hd.startswith(standard + " ")
        assert "detail" in hd[len(standard) :]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_subject_is_kept_verbatim(prompt: str) -> None:
    subject = prompt.rstrip(".!")
    for seed in range(5):
        revised = revise_prompt(prompt, seed=seed)
        assert subject[1:] in revised
        assert subject.lower() in revised.lower()


def test_t_rex_example_reads_like_an_enhancement() -> None:
    revised = revise_prompt(T_REX)
    assert revised.startswith(
        (
            "Visualize a T-Rex",
            "Imagine a T-Rex",
            "Picture a T-Rex",
            "Envision a T-Rex",
            "Create an image of a T-Rex",
            "Depict a T-Rex",
        )
    )
    assert revised.endswith(".")
    assert revised.count(". ") >= 3


@pytest.mark.parametrize("prompt", [*PROMPTS, "cat", "a red fox"])
def test_revised_prompt_is_longer_than_the_input(prompt: str) -> None:
    assert len(revise_prompt(prompt)) > len(prompt) + 100


@pytest.mark.parametrize(
    "prompt",
    ["Visualize a red fox in the snow", "An image of: a red fox in the snow", "Please visualize a red fox in the snow"],
)
def test_existing_lead_ins_are_not_repeated(prompt: str) -> None:
    for seed in range(12):
        revised = revise_prompt(prompt, seed=seed).lower()
        assert "a red fox in the snow" in revised
        assert revised.count("visualize") <= 1
        assert "image of an image" not in revised
        assert "image of: " not in revised


@pytest.mark.parametrize("prompt", ["a cat on a sofa", "a cat on a sofa.", "a cat on a sofa!", "a cat on a sofa ,"])
def test_sentence_is_terminated_exactly_once(prompt: str) -> None:
    revised = revise_prompt(prompt)
    assert "a cat on a sofa" in revised
    assert ".." not in revised and "!." not in revised and " ,." not in revised


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t\r", "\x00\x1b"])
def test_empty_or_blank_prompt_still_gives_a_full_description(prompt: str) -> None:
    revised = revise_prompt(prompt)
    assert len(revised) > 100
    assert revised == revised.strip() and not _has_unsafe_chars(revised)


def test_control_characters_are_removed_but_unicode_text_is_kept() -> None:
    prompt = "שלום עולם 🌍👨\u200d👩\u200d👧\x00\x1b[31m tab\there\nnewline\u2028sep\u202eflip\ud800"
    revised = revise_prompt(prompt)
    assert "שלום עולם 🌍👨\u200d👩\u200d👧" in revised
    assert "tab here newline sep flip" in revised
    assert not _has_unsafe_chars(revised)
    assert "\u202e" not in revised
    revised.encode("utf-8")


@pytest.mark.parametrize("prompt", ["word " * 1000, "x" * 4000, "y" * 20000, "élan " * 900])
def test_long_prompts_are_bounded_and_cut_at_a_word_boundary(prompt: str) -> None:
    revised = revise_prompt(prompt, quality="hd")
    assert len(revised) <= MAX_REVISED_PROMPT_CHARS
    if " " in prompt.strip():
        assert prompt.split()[0] in revised
        assert " wor." not in revised and " wo." not in revised and " él." not in revised


def test_unknown_style_and_quality_fall_back_to_defaults() -> None:
    assert revise_prompt(T_REX, style="cartoon", quality="ultra") == revise_prompt(T_REX)


def test_huge_and_negative_seeds_are_accepted() -> None:
    assert revise_prompt(T_REX, seed=-1) == revise_prompt(T_REX, seed=-1)
    assert revise_prompt(T_REX, seed=10**5000)


@settings(deadline=None)
@given(
    prompt=st.one_of(
        st.text(max_size=5000),
        st.lists(st.one_of(st.text(max_size=30), st.sampled_from(NASTY_PIECES)), max_size=400).map("".join),
    ),
    style=st.sampled_from(["vivid", "natural", "", "VIVID"]),
    quality=st.sampled_from(["standard", "hd", ""]),
    seed=st.integers(),
)
def test_hostile_input_never_raises_and_output_is_clean_and_bounded(
    prompt: str, style: str, quality: str, seed: int
) -> None:
    revised = revise_prompt(prompt, style=style, quality=quality, seed=seed)
    assert 0 < len(revised) <= MAX_REVISED_PROMPT_CHARS
    assert not _has_unsafe_chars(revised)
    assert revised == revised.strip() and "  " not in revised
    revised.encode("utf-8")
    assert revise_prompt(prompt, style=style, quality=quality, seed=seed) == revised


@settings(deadline=None)
@given(
    words=st.lists(
        st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=12), min_size=1, max_size=20
    )
)
def test_any_ordinary_prompt_keeps_its_words(words: list[str]) -> None:
    prompt = " ".join(words)
    revised = revise_prompt(prompt)
    assert words[-1].lower() in revised.lower()  # lead-in stripping never eats the whole prompt
    if words[0].lower() not in LEAD_IN_WORDS:
        assert prompt[1:] in revised  # the first letter may be lower-cased ("A cat" -> "Imagine a cat")
