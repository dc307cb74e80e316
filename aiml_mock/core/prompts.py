"""Synthetic, deterministic DALL·E 3 style revised prompts.

DALL·E 3 always rewrites the user's prompt and returns the enhanced text as ``revised_prompt``. The mock imitates
that: the user's own words are echoed verbatim after an opener ("Visualize ..."), then a few sentences about mood,
composition and lighting are picked from phrase banks by a digest of the inputs. ``vivid`` and ``natural`` draw from
different banks; ``hd`` adds a sentence about fine detail.

Everything here is pure and deterministic across processes (``hashlib``, never ``hash()``), never raises on any
string, and is cheap enough for the request hot path: one module-level regex, a blake2b digest and a few joins.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_REVISED_PROMPT_CHARS", "revise_prompt"]

MAX_REVISED_PROMPT_CHARS = 4000
"""Upper bound on the length of any revised prompt (DALL·E 3's own prompt limit)."""

_MAX_INPUT_CHARS = 2 * MAX_REVISED_PROMPT_CHARS
"""Longer inputs are cut before any work, which bounds the cost of absurd prompts (the API rejects them anyway)."""

_SEED_MASK = (1 << 64) - 1
_DIGEST = hashlib.blake2b(digest_size=8)

# C0/C1 controls, lone surrogates (unencodable as UTF-8), line/paragraph separators, bidi embeddings/overrides/
# isolates (an unterminated U+202E would visually reverse the sentences we append) and the BOM. Zero-width joiners
# and LRM/RLM marks are kept: emoji sequences and right-to-left text need them.
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]+")

# Lead-ins the user may already have written; stripped so the output never reads "Visualize visualize ...".
_LEAD_INS: tuple[str, ...] = (
    "create an image of",
    "generate an image of",
    "create a picture of",
    "generate a picture of",
    "an image showing",
    "an image of",
    "a picture of",
    "image of",
    "picture this",
    "visualize",
    "visualise",
    "envision",
    "imagine",
    "please",
)
_LEAD_IN_TRAILING = " :,-\u2013\u2014"
_TRAILING_JUNK = " ,;:-\u2013\u2014"
_TERMINATORS = ".!?\u2026"
_CLOSERS = "\"')]\u201d\u2019\u00bb"

# First words that read better in lower case once an opener precedes them ("Visualize a T-Rex", not "... A T-Rex").
_LOWERABLE_FIRST_WORDS = frozenset(
    "A An The Some Several Many Two Three Four Five One This That These Those My Our Your His Her Their Its".split()
)

_EMPTY_SUBJECT = "an imaginative scene of the artist's own choosing"

_OPENERS: tuple[str, ...] = (
    "Visualize ",
    "Imagine ",
    "Picture ",
    "Envision ",
    "Create an image of ",
    "Depict ",
)

_MOOD_VIVID: tuple[str, ...] = (
    "The scene is rendered in hyper-real detail, with bold, saturated colors that make every element leap out.",
    "Everything feels heightened and dramatic, as if captured at the single most striking moment of a cinematic story.",
    "Rich, vibrant hues and crisp contrasts give the image an almost electric, larger-than-life energy.",
    "The atmosphere is charged and theatrical, with intense colors and a sense of motion that pulls the viewer in.",
    "Each surface gleams with vivid color and sharp definition, giving the whole scene a striking presence.",
    "The image bursts with saturated tones and dramatic depth, turning the moment into something spectacular.",
)

_MOOD_NATURAL: tuple[str, ...] = (
    "The scene feels calm and true to life, with muted, realistic colors and nothing exaggerated.",
    "Everything looks believable and unstaged, as if quietly observed on an ordinary day.",
    "Soft, earthy tones and gentle contrasts keep the image grounded and natural.",
    "The atmosphere is understated and authentic, favoring realism over spectacle.",
    "Colors are subdued and lifelike, with subtle textures that reward a closer look.",
    "The mood is relaxed and honest, like a candid photograph taken without any staging.",
)

_COMPOSITION: tuple[str, ...] = (
    "The main subject sits slightly off-center, following the rule of thirds, with clear depth between foreground "
    "and background.",
    "A balanced composition frames the subject at eye level, leaving room for the setting to tell its own story.",
    "A wide view places the subject within its surroundings, with leading lines drawing the eye toward it.",
    "The subject is framed in a medium close-up, the background softly out of focus to keep attention on it.",
    "A low viewpoint lends the subject a sense of presence, while the surroundings recede into the distance.",
    "Layered foreground, midground and background elements give the composition a rich, three-dimensional feel.",
)

_LIGHT_VIVID: tuple[str, ...] = (
    "Dramatic golden-hour light rakes across the scene, casting long shadows and luminous highlights.",
    "Bold rim lighting outlines the subject against a deep, glowing backdrop.",
    "Brilliant light and deep, crisp shadows create striking contrast throughout.",
    "Shafts of intense, colorful light cut through the air, adding a cinematic glow.",
    "Vibrant accent lights and high-contrast illumination give the scene a dramatic edge.",
    "A radiant, warm glow bathes everything, with sparkling reflections wherever the light catches.",
)

_LIGHT_NATURAL: tuple[str, ...] = (
    "Soft, diffused daylight falls evenly across the scene, leaving only gentle shadows.",
    "Overcast light gives the image an even, quiet softness without harsh highlights.",
    "Gentle, indirect light models the forms softly and naturally.",
    "Pale early-morning light lends the scene a subtle, understated warmth.",
    "The lighting is natural and unforced, like ambient light on a mild afternoon.",
    "Low-contrast, softly filtered light keeps the tones smooth and realistic.",
)

_DETAIL_HD: tuple[str, ...] = (
    "Fine details are rendered with exceptional clarity, from the smallest textures to the subtlest shifts in tone.",
    "Every surface shows crisp, high-resolution detail, down to individual fibers, grains and reflections.",
    "Intricate textures and precise edges hold up under close inspection, revealing a wealth of fine detail.",
    "The image is sharp throughout, with meticulous attention to texture, material and small incidental details.",
)


def _longest(bank: tuple[str, ...]) -> int:
    """Length of the longest phrase in a bank (used to bound the output at import time)."""
    return max(len(phrase) for phrase in bank)


# Worst case of everything we add around the subject: opener, terminator, four sentences and their separators.
_MAX_ADDED_CHARS = (
    _longest(_OPENERS)
    + 1
    + max(_longest(_MOOD_VIVID), _longest(_MOOD_NATURAL))
    + _longest(_COMPOSITION)
    + max(_longest(_LIGHT_VIVID), _longest(_LIGHT_NATURAL))
    + _longest(_DETAIL_HD)
    + 4
)
_MAX_SUBJECT_CHARS = MAX_REVISED_PROMPT_CHARS - _MAX_ADDED_CHARS


def _clean(text: str) -> str:
    """Replace unsafe characters with spaces and collapse every run of whitespace into one plain space.

    Printable text (the common case) holds no whitespace but plain spaces, so it skips the regex and the split.
    """
    if text.isprintable():
        return " ".join(text.split()) if "  " in text else text.strip(" ")
    text = " ".join(text.split())  # tabs and newlines go here, in C, leaving the regex few matches
    if text.isprintable():
        return text
    return " ".join(_UNSAFE_CHARS.sub(" ", text).split())


def _strip_lead_ins(text: str) -> str:
    """Drop instruction lead-ins such as "Visualize" or "An image of:", keeping the rest of the user's words."""
    for _ in range(3):
        head = text[:24].lower()
        if not head.startswith(_LEAD_INS):
            return text
        for lead_in in _LEAD_INS:
            end = len(lead_in)
            if head.startswith(lead_in) and len(head) > end and head[end] in _LEAD_IN_TRAILING:
                rest = text[end:].lstrip(_LEAD_IN_TRAILING)
                if rest:
                    text = rest
                    break
        else:
            return text
    return text


def _truncate(text: str, limit: int) -> str:
    """Cut text to at most ``limit`` chars, at the last space when one is reasonably close to the limit."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit + 1)
    return text[: cut if cut > 0 else limit].rstrip(_TRAILING_JUNK)


def _subject(cleaned: str) -> str:
    """The user's words as a sentence fragment: lead-in dropped, bounded, first determiner lower-cased, terminated."""
    text = _strip_lead_ins(cleaned) if cleaned[:24].lower().startswith(_LEAD_INS) else cleaned
    if len(text) > _MAX_SUBJECT_CHARS:
        text = _truncate(text, _MAX_SUBJECT_CHARS)
    text = text.rstrip(_TRAILING_JUNK)
    if not text:
        return _EMPTY_SUBJECT + "."
    space = text.find(" ", 0, 16)
    if text[: space if space > 0 else 16] in _LOWERABLE_FIRST_WORDS:
        text = text[0].lower() + text[1:]
    last = text[-1]
    if last in _TERMINATORS or (last in _CLOSERS and len(text) > 1 and text[-2] in _TERMINATORS):
        return text
    return text + "."


def _revise(prompt: str, natural: bool, hd: bool, seed: int) -> str:
    """Build the revised prompt from the raw prompt and normalised options."""
    cleaned = _clean(prompt[:_MAX_INPUT_CHARS])
    digest = _DIGEST.copy()  # a copy of an empty hash: a third of the cost of a new one, the same digest
    digest.update(b"%d|%d|" % (natural, seed) + cleaned.encode("utf-8"))  # hd left out: hd = standard + a sentence
    d = digest.digest()
    moods, lights = (_MOOD_NATURAL, _LIGHT_NATURAL) if natural else (_MOOD_VIVID, _LIGHT_VIVID)
    composition, light = _COMPOSITION[d[2] % len(_COMPOSITION)], lights[d[3] % len(lights)]
    later = f"{light} {composition}" if d[4] & 1 else f"{composition} {light}"
    text = f"{_OPENERS[d[0] % len(_OPENERS)]}{_subject(cleaned)} {moods[d[1] % len(moods)]} {later}"
    return f"{text} {_DETAIL_HD[d[5] % len(_DETAIL_HD)]}" if hd else text


def revise_prompt(prompt: str, *, style: str = "vivid", quality: str = "standard", seed: int = 0) -> str:
    """Return a DALL·E 3 style enhanced version of ``prompt``, deterministic in all four inputs.

    ``style="natural"`` gives subdued, realistic wording and anything else the default vivid, dramatic wording;
    ``quality="hd"`` adds a sentence about fine detail. The user's words are kept (lead-ins like "Visualize" are
    not repeated), control characters are removed and the result never exceeds ``MAX_REVISED_PROMPT_CHARS``.
    """
    natural = style == "natural"
    hd = quality == "hd"
    return _revise(prompt, natural, hd, seed & _SEED_MASK)
