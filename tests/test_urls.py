"""Signed, expiring image URLs: the name carries the image, the signature guards it."""

from __future__ import annotations

import dataclasses

import pytest

from aiml_mock.core.errors import ApiError
from aiml_mock.core.images import ImageSpec
from aiml_mock.core.urls import UrlSigner, file_name, spec_from_name

SPEC = ImageSpec(text="a fox 🦊", prompt_digest=b"12345678", model="dall-e-3", width=1024, height=1792, label="hd",
                 fmt="png", index=2)


def test_file_name_round_trips_the_spec() -> None:
    name = file_name(SPEC)
    assert name.startswith("img-") and name.endswith(".png")
    assert spec_from_name(name) == SPEC


def test_a_transparent_image_s_name_says_so_and_an_opaque_one_s_is_unchanged() -> None:
    clear = ImageSpec(SPEC.text, SPEC.prompt_digest, "openai/gpt-image-1", 64, 64, "", "webp", 0, True)
    assert spec_from_name(file_name(clear)) == clear and file_name(clear).endswith(".webp")
    assert file_name(clear) != file_name(dataclasses.replace(clear, transparent=False))
    assert spec_from_name(file_name(SPEC)).transparent is False


def test_jpeg_names_end_in_jpg() -> None:
    spec = ImageSpec(SPEC.text, SPEC.prompt_digest, SPEC.model, 64, 64, "", "jpeg", 0)
    assert file_name(spec).endswith(".jpg") and spec_from_name(file_name(spec)).fmt == "jpeg"


@pytest.mark.parametrize("name", ["img-.png", "x.png", "img-AAAA.exe", "img-!!!.png", "img-" + "A" * 9000 + ".png"])
def test_names_that_are_not_ours_are_404(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        spec_from_name(name)
    assert caught.value.status == 404


def test_signature_verifies_until_expiry() -> None:
    signer = UrlSigner(b"secret", ttl=60)
    query = dict(part.split("=", 1) for part in signer.query("img-a.png", now=1000).split("&"))
    signer.verify("img-a.png", query["se"], query["sig"], now=1059)
    with pytest.raises(ApiError, match="expired"):
        signer.verify("img-a.png", query["se"], query["sig"], now=1061)


def test_signature_does_not_transfer_to_another_name_or_secret() -> None:
    signer = UrlSigner(b"secret", ttl=60)
    query = dict(part.split("=", 1) for part in signer.query("img-a.png", now=1000).split("&"))
    for other, name in ((signer, "img-b.png"), (UrlSigner(b"other", ttl=60), "img-a.png")):
        with pytest.raises(ApiError) as caught:
            other.verify(name, query["se"], query["sig"], now=1000)
        assert caught.value.status == 403


def test_unsigned_url_is_403() -> None:
    with pytest.raises(ApiError) as caught:
        UrlSigner(b"s", 60).verify("img-a.png", None, None, now=0)
    assert caught.value.status == 403
