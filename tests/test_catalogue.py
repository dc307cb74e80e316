"""The provider's whole image catalogue on one endpoint: every model served by its own schema, images of the
size, count and encoding the request implies, image inputs checked by form and never fetched, unknown ids
answered with the nearest names, `GET /v1/models` in the provider's shape, and a docs/models.md table that is current.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from PIL import Image
from starlette.testclient import TestClient

from aiml_mock import Settings
from aiml_mock.core.contract import Contract, ModelSpec, load_contract
from aiml_mock.core.registry import catalogue, example_request, model_list
from aiml_mock.core.validation import validate_request
from aiml_mock.tools.catalogue import DOC_BEGIN, DOC_END, WRITE_COMMAND, doc_section, update_doc
from tests.conftest import AUTH, PROMPT, checked_client

GEN = "/v1/images/generations"
CONTRACT = load_contract()
MODEL_IDS = sorted(CONTRACT.models)
ROOT = Path(__file__).resolve().parent.parent
PROVIDER_FILE = ROOT.parent / "shared" / "provider" / "image-models.json"
MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "webp": (b"RIFF",),
    "tiff": (b"II*\x00", b"MM\x00*"),
}
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF"}
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}
TINY_PNG = "data:image/png;base64," + base64.b64encode(
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 30  # form only: the mock never decodes input images
).decode()


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    """One contract-checked client for the module: building an app per parametrized case would dominate."""
    with checked_client(Settings()) as client:
        yield client


def post(client: TestClient, body: Any) -> Any:
    return client.post(GEN, json=body, headers=AUTH)


def fetch(client: TestClient, url: str) -> tuple[bytes, str]:
    parts = urlsplit(url)
    response = client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    return response.content, response.headers["content-type"]


def header_size(data: bytes) -> tuple[int, int]:
    """Width and height from the file's header (Pillow reads only the header until pixels are asked for)."""
    return Image.open(io.BytesIO(data)).size  # type: ignore[no-any-return]


def decoded(data: bytes) -> Image.Image:
    """The image fully decoded: proves the bytes are a real, complete file of their type."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_file_type(data: bytes, fmt: str) -> None:
    assert data.startswith(MAGIC[fmt]), f"not a {fmt} file: {data[:12]!r}"
    if fmt == "webp":
        assert data[8:12] == b"WEBP"
    assert Image.open(io.BytesIO(data)).format == PIL_FORMATS[fmt]


# -- every model: a minimal valid request, an invalid one, a missing required field ------------------------


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_every_model_answers_its_minimal_request_with_its_status_and_a_real_image(
    api: TestClient, model_id: str
) -> None:
    spec = CONTRACT.models[model_id]
    body = example_request(spec)
    expected = validate_request(body, CONTRACT)
    response = post(api, body)
    assert response.status_code == spec.success_status, response.text
    [item] = response.json()["data"]
    documented = CONTRACT.response_schema(model_id)["properties"]["data"]["items"]["properties"]
    assert set(item) <= set(documented) and urlsplit(item["url"]).path.endswith(EXTENSIONS[expected.fmt])
    data, content_type = fetch(api, item["url"])
    assert content_type == f"image/{expected.fmt}"
    assert data.startswith(MAGIC[expected.fmt])
    assert header_size(data) == (expected.width, expected.height)


@pytest.mark.parametrize("model_id", [m for m in MODEL_IDS if "response_format" in CONTRACT.models[m].properties])
def test_every_model_with_response_format_answers_b64_json(api: TestClient, model_id: str) -> None:
    body = {**example_request(CONTRACT.models[model_id]), "response_format": "b64_json"}
    expected = validate_request(body, CONTRACT)
    response = post(api, body)
    assert response.status_code == CONTRACT.models[model_id].success_status
    [item] = response.json()["data"]
    assert item.get("url") is None  # absent, or null where the model's example shows it so
    data = base64.b64decode(item["b64_json"], validate=True)
    assert data.startswith(MAGIC[expected.fmt]) and header_size(data) == (expected.width, expected.height)


def invalid_value(spec: ModelSpec) -> tuple[str, Any]:
    """A field the model has and a value its schema refuses: a wrong option, else past a bound, else a wrong type."""
    fields = sorted(name for name in spec.properties if name != "model")
    for name in fields:
        if spec.enum(name):
            return name, "not-an-option"
    for name in fields:
        prop = spec.properties[name]
        if prop.get("type") in ("integer", "number") and "maximum" in prop:
            return name, prop["maximum"] + 1
    for name in fields:
        if "maxLength" in spec.properties[name]:
            return name, "x" * (spec.properties[name]["maxLength"] + 1)
    name = next(name for name in fields if spec.properties[name].get("type") == "boolean")
    return name, "yes"


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_every_model_refuses_an_invalid_value_naming_the_field(api: TestClient, model_id: str) -> None:
    spec = CONTRACT.models[model_id]
    field, value = invalid_value(spec)
    response = post(api, {**example_request(spec), field: value})
    assert response.status_code == 400, (field, value)
    assert f'at "{field}' in response.json()["message"]


REQUIRED_INPUTS = [
    (model_id, field)
    for model_id in MODEL_IDS
    for field in CONTRACT.models[model_id].required
    if field not in ("model", "prompt")
]


@pytest.mark.parametrize(("model_id", "field"), REQUIRED_INPUTS)
def test_models_refuse_a_request_missing_a_required_input(api: TestClient, model_id: str, field: str) -> None:
    body = example_request(CONTRACT.models[model_id])
    del body[field]
    response = post(api, body)
    assert response.status_code == 400
    assert f'Required at "{field}"' in response.json()["message"]


def test_the_required_inputs_include_the_image_to_image_and_topaz_fields() -> None:
    assert ("flux/dev/image-to-image", "image_url") in REQUIRED_INPUTS
    assert ("blackforestlabs/flux-2-edit", "image_urls") in REQUIRED_INPUTS
    assert ("alibaba/qwen-image-edit", "image") in REQUIRED_INPUTS
    assert ("topaz-labs/sharpen", "mode") in REQUIRED_INPUTS


def test_the_registry_serves_every_model_of_the_provider_file() -> None:
    """The generated contract is current with the provider's schemas (regenerate with contracts/generate.py)."""
    if not PROVIDER_FILE.is_file():
        pytest.skip(f"{PROVIDER_FILE} is not on this machine; the contract cannot be compared with it")
    loader = importlib.util.spec_from_file_location("generate", ROOT / "contracts" / "generate.py")
    assert loader and loader.loader
    generate = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(generate)
    models = json.loads(PROVIDER_FILE.read_text(encoding="utf-8"))["models"]
    template = yaml.safe_load((ROOT / "contracts" / "aimlapi.template.yaml").read_text(encoding="utf-8"))
    extra = template["x-extra-models"]["models"]  # in the provider's newest docs, not in the shared file
    assert set(CONTRACT.models) == set(models) | set(extra) and len(models) == 81 and len(CONTRACT.models) == 83
    built = generate.build(models)
    written = yaml.safe_load((ROOT / "contracts" / "aimlapi.yaml").read_text(encoding="utf-8"))
    assert built == written, f"contracts/aimlapi.yaml is stale: run python contracts/generate.py {PROVIDER_FILE}"


def test_adding_a_model_is_adding_its_schema() -> None:
    """No code per model: a new schema in the document is validated, sized, listed and described."""
    document = copy.deepcopy(CONTRACT.document)
    schemas = document["components"]["schemas"]
    new = copy.deepcopy(schemas["flux__schnell"])
    new["properties"]["model"] = {"type": "string", "const": "acme/new-model"}
    new["x-model-id"], new["x-success-status"], new["x-developer"] = "acme/new-model", 202, "Acme"
    schemas["acme__new-model"] = new
    schemas["ImageRequest"]["oneOf"].append({"$ref": "#/components/schemas/acme__new-model"})
    contract = Contract(document, "aimlapi", "aimlapi")
    request = validate_request({"model": "acme/new-model", "prompt": "x", "image_size": "square"}, contract)
    assert (request.width, request.height) == (512, 512) and contract.success_status("acme/new-model") == 202
    listed = model_list(contract, [("id", "acme/new-model")])["data"]
    assert [(item["id"], item["info"]["developer"]) for item in listed] == [("acme/new-model", "Acme")]


# -- pixel size: every way of saying it ------------------------------------------------------------------

SIZES: list[tuple[dict[str, Any], tuple[int, int]]] = [
    ({"model": "dall-e-3", "size": "1792x1024"}, (1792, 1024)),
    ({"model": "dall-e-2", "size": "256x256"}, (256, 256)),
    ({"model": "openai/gpt-image-1", "size": "1024x1536"}, (1024, 1536)),
    ({"model": "bytedance/seedream-3.0", "size": "640x2048"}, (640, 2048)),
    ({"model": "bytedance/seededit-3.0-i2i", "image": TINY_PNG}, (1024, 1024)),  # adaptive: input unknown
    ({"model": "flux/schnell"}, (1024, 768)),  # default preset landscape_4_3
    ({"model": "flux/schnell", "image_size": "square_hd"}, (1024, 1024)),
    ({"model": "flux/schnell", "image_size": "square"}, (512, 512)),
    ({"model": "flux/dev", "image_size": "portrait_4_3"}, (768, 1024)),
    ({"model": "flux-pro", "image_size": "portrait_16_9"}, (576, 1024)),
    ({"model": "stable-diffusion-v3-medium", "image_size": "landscape_16_9"}, (1024, 576)),
    ({"model": "flux-pro/v1.1", "image_size": {"width": 640, "height": 480}}, (640, 480)),
    ({"model": "alibaba/qwen-image", "image_size": {"width": 640}}, (640, 768)),  # height from the object default
    ({"model": "bytedance/seedream-v4-text-to-image", "image_size": {"width": 1500.6, "height": 1024}}, (1501, 1024)),
    ({"model": "bytedance/seedream-4-5"}, (2048, 2048)),  # no default: the object's width/height defaults
    ({"model": "bytedance/seedream-4-5", "image_size": "4K"}, (4096, 4096)),
    ({"model": "bytedance/seedream-5-0-pro"}, (1536, 1536)),  # default "1.5K"
    ({"model": "flux/kontext-pro/text-to-image"}, (1360, 768)),  # default 16:9 at 1K
    ({"model": "flux/kontext-max/text-to-image", "aspect_ratio": "9:21"}, (672, 1568)),
    ({"model": "google/imagen-4.0-generate-001", "aspect_ratio": "3:4"}, (880, 1184)),
    ({"model": "google/gemini-3-pro-image-preview", "aspect_ratio": "16:9", "resolution": "2K"}, (2736, 1536)),
    ({"model": "google/nano-banana-2", "resolution": "4K"}, (4096, 4096)),  # default 1:1
    ({"model": "x-ai/grok-imagine-image", "aspect_ratio": "auto", "resolution": "1k"}, (1024, 1024)),
    ({"model": "x-ai/grok-imagine-image", "aspect_ratio": "9:19.5", "resolution": "1k"}, (688, 1504)),
    ({"model": "bytedance/dreamina-creative-upscale", "image_url": TINY_PNG, "resolution": "4k"}, (4096, 4096)),
    ({"model": "beeble/switchx-image-to-image", "image_url": TINY_PNG, "max_resolution": 720}, (720, 720)),
    ({"model": "topaz-labs/sharpen", "image_url": TINY_PNG, "mode": "Standard"}, (1024, 1024)),
]
DECODED = {"dall-e-3", "flux/schnell", "alibaba/qwen-image", "google/imagen-4.0-generate-001",
           "x-ai/grok-imagine-image", "bytedance/seedream-3.0"}


@pytest.mark.parametrize(("fields", "size"), SIZES, ids=[f"{b['model']}-{w}x{h}" for b, (w, h) in SIZES])
def test_images_have_the_pixel_size_the_request_implies(
    api: TestClient, fields: dict[str, Any], size: tuple[int, int]
) -> None:
    body = {"prompt": PROMPT, **fields}
    response = post(api, body)
    assert response.status_code in (200, 201), response.text
    data, _ = fetch(api, response.json()["data"][0]["url"])
    if fields["model"] in DECODED and max(size) <= 2048:
        assert decoded(data).size == size
    else:
        assert header_size(data) == size


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model": "bytedance/seedream-3.0", "size": "2049x512"}, "size"),
        ({"model": "bytedance/seedream-3.0", "size": "big"}, "size"),
        ({"model": "flux-pro", "image_size": {"width": 0, "height": 512}}, "image_size.width"),
        ({"model": "bytedance/uso", "image_urls": [TINY_PNG], "image_size": {"width": -5, "height": 9}},
         "image_size.width"),
        ({"model": "bytedance/uso", "image_urls": [TINY_PNG], "image_size": {"width": 9000, "height": 9}},
         "image_size.width"),
        ({"model": "alibaba/qwen-image", "image_size": "huge"}, "image_size"),
        ({"model": "bytedance/seedream-4-5", "image_size": "3K"}, "image_size"),
        ({"model": "google/nano-banana-pro", "resolution": "8K"}, "resolution"),
        ({"model": "flux/kontext-pro/text-to-image", "aspect_ratio": "5:1"}, "aspect_ratio"),
        ({"model": "dall-e-3", "size": "512x512"}, "size"),
    ],
)
def test_sizes_outside_the_model_schema_are_refused(api: TestClient, fields: dict[str, Any], field: str) -> None:
    response = post(api, {"prompt": PROMPT, **fields})
    assert response.status_code == 400
    assert f'at "{field}"' in response.json()["message"]


# -- count ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "count"),
    [
        ({"model": "flux/schnell", "num_images": 3, "image_size": "square"}, 3),
        ({"model": "klingai/image-o1", "image_urls": [TINY_PNG], "num_images": 9, "resolution": "1K"}, 9),
        ({"model": "x-ai/grok-2-image", "n": 4}, 4),
        ({"model": "dall-e-2", "n": 10, "size": "256x256"}, 10),
        ({"model": "recraft-v3"}, 1),
    ],
)
def test_the_count_comes_from_n_or_num_images(api: TestClient, fields: dict[str, Any], count: int) -> None:
    body = post(api, {"prompt": PROMPT, **fields}).json()
    urls = [item["url"] for item in body["data"]]
    assert len(urls) == count == len(set(urls))
    first, _ = fetch(api, urls[0])
    last, _ = fetch(api, urls[-1])
    assert first != last or count == 1  # each image of a batch is its own file ("#1", "#2" drawn on it)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model": "flux/schnell", "num_images": 11}, "num_images"),
        ({"model": "google/imagen4/preview", "num_images": 5}, "num_images"),
        ({"model": "dall-e-3", "n": 2}, "n"),
        ({"model": "openai/gpt-image-1", "n": 2}, "n"),
        ({"model": "flux/schnell", "num_images": 2.5}, "num_images"),
        ({"model": "x-ai/grok-2-image", "n": 0}, "n"),
    ],
)
def test_counts_outside_the_model_schema_are_refused(api: TestClient, fields: dict[str, Any], field: str) -> None:
    response = post(api, {"prompt": PROMPT, **fields})
    assert response.status_code == 400 and f'at "{field}"' in response.json()["message"]


# -- encoding --------------------------------------------------------------------------------------------

FORMATS = [
    ({"model": "alibaba/qwen-image-3", "output_format": "png"}, "png"),
    ({"model": "alibaba/qwen-image-3", "output_format": "jpeg"}, "jpeg"),
    ({"model": "alibaba/qwen-image-3", "output_format": "webp"}, "webp"),
    ({"model": "flux/kontext-pro/text-to-image"}, "jpeg"),  # jpeg by default
    ({"model": "topaz-labs/sharpen", "image_url": TINY_PNG, "mode": "Natural", "output_format": "jpg"}, "jpeg"),
    ({"model": "topaz-labs/sharpen", "image_url": TINY_PNG, "mode": "Natural", "output_format": "tiff"}, "tiff"),
    ({"model": "topaz-labs/sharpen-gen", "image_url": TINY_PNG, "mode": "Super Focus", "output_format": "tif"},
     "tiff"),
    ({"model": "topaz-labs/sharpen-gen", "image_url": TINY_PNG, "mode": "Super Focus", "output_format": "png"},
     "png"),
]


@pytest.mark.parametrize(("fields", "fmt"), FORMATS, ids=[f"{b['model']}-{b.get('output_format')}" for b, _ in FORMATS])
def test_output_format_gives_a_real_file_of_that_type_by_url(api: TestClient, fields: dict[str, Any], fmt: str) -> None:
    url = post(api, {"prompt": PROMPT, **fields}).json()["data"][0]["url"]
    assert urlsplit(url).path.endswith(EXTENSIONS[fmt])
    data, content_type = fetch(api, url)
    assert content_type == f"image/{fmt}"
    assert_file_type(data, fmt)
    request = validate_request({"prompt": PROMPT, **fields}, CONTRACT)
    assert decoded(data).size == (request.width, request.height)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_output_format_gives_a_real_file_of_that_type_as_b64_json(api: TestClient, fmt: str) -> None:
    body = {"model": "openai/gpt-image-1", "prompt": PROMPT, "output_format": fmt, "response_format": "b64_json",
            "size": "1536x1024"}
    [item] = post(api, body).json()["data"]
    data = base64.b64decode(item["b64_json"], validate=True)
    assert_file_type(data, fmt)
    assert decoded(data).size == (1536, 1024)


def test_unknown_output_format_is_refused(api: TestClient) -> None:
    response = post(api, {"model": "alibaba/qwen-image-3", "prompt": PROMPT, "output_format": "gif"})
    assert response.status_code == 400 and 'at "output_format"' in response.json()["message"]


# -- delivery: url or b64_json ---------------------------------------------------------------------------


def test_gpt_image_answers_a_url_by_default_as_the_provider_documents(api: TestClient) -> None:
    [item] = post(api, {"model": "openai/gpt-image-2", "prompt": PROMPT}).json()["data"]
    assert item["url"] and item["b64_json"] is None  # b64_json: null, as the model's example shows it


@pytest.mark.parametrize("model_id", ["google/imagen-4.0-generate-001", "reve/create-image", "imagen-3.0-generate-002"])
def test_convert_base64_to_url_false_answers_b64_json(api: TestClient, model_id: str) -> None:
    [as_b64] = post(api, {"model": model_id, "prompt": PROMPT, "convert_base64_to_url": False}).json()["data"]
    [as_url] = post(api, {"model": model_id, "prompt": PROMPT, "convert_base64_to_url": True}).json()["data"]
    assert as_b64.get("url") is None and as_url.get("b64_json") is None
    assert base64.b64decode(as_b64["b64_json"]) == fetch(api, as_url["url"])[0]


def test_success_bodies_carry_the_credits_of_the_price_table(api: TestClient) -> None:
    body = post(api, {"model": "bytedance/seedream-4-5", "prompt": PROMPT}).json()
    assert body["meta"] == {"usage": {"credits_used": 84000}}  # its page's example, as contracts/prices.yaml has it


# -- image inputs: form checked, never fetched -----------------------------------------------------------

GOOD_REFERENCES = [
    "https://example.com/t-rex.png",
    "http://127.0.0.1:9/closed-port.png?x=1#y",
    "HTTPS://EXAMPLE.COM/UPPER.PNG",
    TINY_PNG,
    "data:image/jpeg;name=photo.jpg;base64,/9j/4AAQSkZJRg==",
    "DATA:image/webp;base64,UklGRg==",
]
BAD_REFERENCES = [
    "foo:bar",
    "mailto:someone@example.com",
    "ftp://example.com/x.png",
    "javascript:alert(1)",
    "/relative/path.png",
    "example.com/x.png",
    "https://",
    "https://exa mple.com/x.png",
    "",
    "data:,",
    "data:image/png,not-base64",
    "data:text/plain;base64,aGVsbG8=",
    "data:image/png;base64,",
    "data:image/png;base64,AAA",
    "data:image/png;base64,@@@@",
]


@pytest.mark.parametrize("reference", GOOD_REFERENCES)
def test_image_inputs_accept_http_urls_and_base64_data_urls(api: TestClient, reference: str) -> None:
    single = post(api, {"model": "flux/dev/image-to-image", "prompt": PROMPT, "image_url": reference})
    listed = post(api, {"model": "blackforestlabs/flux-2-edit", "prompt": PROMPT, "image_urls": [reference]})
    assert (single.status_code, listed.status_code) == (200, 200), (single.text, listed.text)


@pytest.mark.parametrize("reference", BAD_REFERENCES)
def test_image_inputs_refuse_other_forms_naming_the_field(api: TestClient, reference: str) -> None:
    single = post(api, {"model": "flux/dev/image-to-image", "prompt": PROMPT, "image_url": reference})
    listed = post(api, {"model": "blackforestlabs/flux-2-edit", "prompt": PROMPT,
                        "image_urls": ["https://example.com/ok.png", reference]})
    assert (single.status_code, listed.status_code) == (400, 400)
    assert 'at "image_url"' in single.json()["message"]
    assert 'at "image_urls[1]"' in listed.json()["message"]


def test_a_refused_image_input_says_what_is_expected(make_client: Any) -> None:
    client = make_client(error_style="openai")
    response = post(client, {"model": "reve/edit-image", "prompt": PROMPT, "image_url": "foo:bar"})
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "image_url"
    assert "http(s) URL or a base64 data URL" in error["message"]


def test_the_image_field_also_takes_bare_base64_as_documented(api: TestClient) -> None:
    bare = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 9).decode()
    assert post(api, {"model": "alibaba/qwen-image-edit", "prompt": PROMPT, "image": bare}).status_code == 200
    assert post(api, {"model": "alibaba/qwen-image-edit", "prompt": PROMPT, "image": "not base64!"}).status_code == 400


def test_kontext_takes_one_image_url_or_a_list_of_up_to_four(api: TestClient) -> None:
    model = "flux/kontext-max/image-to-image"
    assert post(api, {"model": model, "prompt": PROMPT, "image_url": [TINY_PNG] * 4}).status_code == 200
    too_many = post(api, {"model": model, "prompt": PROMPT, "image_url": [TINY_PNG] * 5})
    assert too_many.status_code == 400 and 'at "image_url"' in too_many.json()["message"]


@pytest.fixture
def no_outbound_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Any socket connection attempted while the test runs is recorded and refused."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise ConnectionRefusedError(f"the mock tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts


def test_image_inputs_are_never_fetched(api: TestClient, no_outbound_connections: list[Any]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # a server that would see any fetch
        listener.setblocking(False)
        port = listener.getsockname()[1]
        refs = [f"http://127.0.0.1:{port}/input-{index}.png" for index in range(3)]
        responses = [
            post(api, {"model": "flux/dev/image-to-image", "prompt": PROMPT, "image_url": refs[0]}),
            post(api, {"model": "bytedance/seedream-4-5", "prompt": PROMPT, "image_urls": refs}),
            post(api, {"model": "beeble/switchx-image-to-image", "image_url": refs[0], "alpha_url": refs[1],
                       "reference_image_url": refs[2]}),
        ]
        assert [response.status_code for response in responses] == [200, 200, 200]
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert no_outbound_connections == []


# -- unknown model ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "nearest"),
    [
        ("DALL-E-3", "dall-e-3"),
        ("openai/dall-e-3", "dall-e-3"),
        ("OpenAI/DALL-E-3", "dall-e-3"),
        ("gpt-image-1", "openai/gpt-image-1"),
        ("google/imagen-3.0-generate-002", "imagen-3.0-generate-002"),
        ("flux-pro/v1.2", "flux-pro/v1.1"),
        ("FLUX/DEV", "flux/dev"),
        ("dalle3", "dall-e-3"),
        ("stable-diffusion-v3.5-large", "stable-diffusion-v35-large"),
        ("seedream-4.5", "bytedance/seedream-4-5"),
        (" flux/schnell ", "flux/schnell"),
    ],
)
def test_unknown_model_names_the_nearest_served_id_first(api: TestClient, sent: str, nearest: str) -> None:
    response = post(api, {"model": sent, "prompt": PROMPT})
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.endswith('at "model"') and f"Did you mean {nearest!r}" in message


def test_unknown_model_in_the_openai_dialect_is_model_not_found_on_model(make_client: Any) -> None:
    response = post(make_client(error_style="openai"), {"model": "openai/dall-e-3", "prompt": PROMPT})
    error = response.json()["error"]
    assert (response.status_code, error["param"], error["code"]) == (400, "model", "model_not_found")
    assert "'dall-e-3'" in error["message"]


def test_a_huge_unknown_model_id_is_not_echoed_back(api: TestClient) -> None:
    response = post(api, {"model": "m" * 200_000, "prompt": PROMPT})
    assert response.status_code == 400 and len(response.content) < 2000


def test_a_model_id_with_no_near_name_still_points_at_the_model_list(api: TestClient) -> None:
    message = post(api, {"model": "zzzz-qqqq", "prompt": PROMPT}).json()["message"]
    assert "Did you mean" not in message and "GET /v1/models" in message and 'at "model"' in message


# -- GET /v1/models ---------------------------------------------------------------------------------------


def test_models_lists_every_served_model_in_the_provider_shape(api: TestClient) -> None:
    response = api.get("/v1/models")  # no key: the provider documents none for this endpoint
    assert response.status_code == 200 and response.headers["etag"]
    body = response.json()
    assert body["object"] == "list" and [item["id"] for item in body["data"]] == MODEL_IDS
    flux = next(item for item in body["data"] if item["id"] == "flux/kontext-max/text-to-image")
    assert flux["type"] == "image" and flux["info"]["developer"] == "Flux" and flux["tags"] == []
    assert "pricing" not in flux and "capabilities" not in flux


def test_models_needs_no_key_even_when_keys_are_configured_but_openai_profile_does(make_client: Any) -> None:
    assert make_client(api_keys=("sk-only",)).get("/v1/models").status_code == 200
    openai_profile = make_client(profile="openai", api_keys=("sk-only",))
    assert openai_profile.get("/v1/models").status_code == 401
    listed = openai_profile.get("/v1/models", headers={"Authorization": "Bearer sk-only"}).json()
    assert {"dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-2"} <= {item["id"] for item in listed["data"]}


def ids(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/v1/models?{query}")
    assert response.status_code == 200
    return [item["id"] for item in response.json()["data"]]


def test_model_filters_narrow_the_list_as_the_provider_documents(api: TestClient) -> None:
    assert ids(api, "id=DALL-E-3,flux/dev") == ["dall-e-3", "flux/dev"]
    assert ids(api, "id=dall-e-2&id=dall-e-3") == ["dall-e-2", "dall-e-3"]
    assert ids(api, "type=IMAGE") == MODEL_IDS and ids(api, "type=chat-completion") == []
    assert ids(api, "tags=playground:image") == [] and ids(api, "id=") == MODEL_IDS
    editors = ids(api, "capabilities=image_to_image")
    assert "flux/dev/image-to-image" in editors and "topaz-labs/sharpen" in editors and "dall-e-3" not in editors
    assert ids(api, "input_modalities=image") == editors
    text_only = ids(api, "capabilities=text_to_image&input_modalities=text")
    assert "dall-e-3" in text_only and "flux/dev/image-to-image" not in text_only
    assert "bytedance/seedream-4-5" in set(text_only) & set(editors)  # optional image_urls: both
    assert ids(api, "id=dall-e-3&capabilities=image_to_image") == []  # filters AND
    assert ids(api, "output_modalities=image") == MODEL_IDS and ids(api, "modalities=video") == []


def test_include_attaches_sections_and_ignores_unknown_values(api: TestClient) -> None:
    [item] = api.get("/v1/models?id=topaz-labs/sharpen&include=all").json()["data"]
    assert item["pricing"] is None
    assert item["modalities"] == {"input": ["image"], "output": ["image"]}
    assert item["capabilities"] == ["image_to_image"]
    [plain] = api.get("/v1/models?id=topaz-labs/sharpen&include=nonsense,Modalities").json()["data"]
    assert "modalities" in plain and "pricing" not in plain and "capabilities" not in plain


def test_models_answers_304_to_a_matching_etag(api: TestClient) -> None:
    first = api.get("/v1/models")
    again = api.get("/v1/models", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
    filtered = api.get("/v1/models?id=dall-e-3", headers={"If-None-Match": first.headers["etag"]})
    assert filtered.status_code == 200 and filtered.headers["etag"] != first.headers["etag"]


# -- the docs/models.md table -------------------------------------------------------------------------------


def test_models_doc_table_is_current() -> None:
    doc = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    assert DOC_BEGIN in doc and DOC_END in doc
    assert update_doc(doc) == doc, f"docs/models.md's model table is stale: run `{WRITE_COMMAND}`"


def test_models_doc_table_has_a_row_per_model_with_its_facts() -> None:
    section = doc_section(CONTRACT)
    rows = [line for line in section.splitlines() if line.startswith("| `") and line.count(" | ") == 7]
    assert [row.split("`")[1] for row in rows] == MODEL_IDS
    assert "| `flux-pro` | `image_size`: 6 presets or {width, height} 1–8192 | 1024x768 |" in section
    assert "| `topaz-labs/sharpen` |" in section and "jpeg, jpg, png, tiff, tif (default jpeg)" in section
    assert "url, b64_json (`convert_base64_to_url`)" in section


def test_every_catalogue_entry_is_consistent_with_its_schema() -> None:
    for item in catalogue(CONTRACT):
        spec = CONTRACT.models[item.id]
        assert item.success_status in (200, 201)
        assert set(item.required) <= set(spec.properties)
        for field in item.image_inputs:
            assert field in spec.properties
        assert item.capabilities, item.id
