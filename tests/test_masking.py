"""The masking register (masking.py): every form a secret takes in output is masked once the
secret is registered. The register is process-wide, so each test uses values of its own."""

from __future__ import annotations

import io
import json
import random
import uuid
from urllib.parse import quote

from flowplan import masking
from flowplan.masking import MASK


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_each_field_of_a_json_secret_and_the_whole_document_are_masked() -> None:
    user, password, host = unique("svc"), unique("pw"), unique("db") + ".example.com"
    pin = random.randrange(10**9, 10**10)
    document = {"user": user, "auth": {"password": password, "pin": pin},
                "list": [host], "port": 5432, "ssl": True, "none": None}  # fmt: skip
    masking.register(json.dumps(document, indent=2))  # stored in yet another layout
    for form in (user, password, host, str(pin), json.dumps(document),
                 json.dumps(document, separators=(",", ":"))):  # fmt: skip
        assert masking.mask(f"<{form}>") == f"<{MASK}>", form
    assert masking.mask(f"connect to {host}:5432 as {user}") == f"connect to {MASK}:5432 as {MASK}"
    assert masking.mask("port 5432, ssl true") == "port 5432, ssl true"  # short numbers stay


def test_a_secret_given_as_a_mapping_is_masked_in_its_json_forms() -> None:
    token = unique("tok")
    value = {"token": token, "scopes": [unique("scope")]}
    masking.register(value)
    assert masking.mask(json.dumps(value)) == MASK
    assert masking.mask(f"token={token}") == f"token={MASK}"


def test_url_userinfo_percent_encoded_and_json_escaped_forms_are_masked() -> None:
    password = unique('p@ss/w"rd')
    url = f"postgresql://etl-loader:{quote(password, safe='')}@db.internal:5432/warehouse"
    masking.register(url)
    assert masking.mask(f"password={password}") == f"password={MASK}"  # the decoded userinfo
    assert masking.mask("user etl-loader") == "user etl-loader"  # the user name stays
    assert masking.mask(f"DSN {url}") == f"DSN {MASK}"
    token = unique("to/ken+x")
    masking.register(f"https://{quote(token, safe='')}@git.example")  # a token as the user
    assert masking.mask(f"token {token}") == f"token {MASK}"
    assert masking.mask(f"https://{quote(token, safe='')}@h/x") == f"https://{MASK}@h/x"
    assert masking.mask(json.dumps({"p": password})) == json.dumps({"p": MASK})


def test_secrets_inside_longer_strings_and_overlapping_secrets() -> None:
    inner = unique("in")
    outer = f"x{inner}y"
    masking.register(outer)
    masking.register(inner)
    assert masking.mask(f"a{outer}b {inner}.") == f"a{MASK}b {MASK}."


def test_clean_masks_credentials_in_any_url_and_mask_does_not() -> None:
    text = "cloning https://user:tok-abc@github.com/x.git"
    assert masking.clean(text) == f"cloning https://{MASK}@github.com/x.git"
    assert masking.mask(text) == text  # the console keeps URLs the user wrote
    assert masking.clean("mail someone@example.com") == "mail someone@example.com"


def test_the_masked_stream_masks_what_is_written() -> None:
    secret = unique("streamed")
    masking.register(json.dumps({"k": secret}))
    out = io.StringIO()
    stream = masking.MaskedStream(out)  # type: ignore[arg-type]
    assert stream.write(f"value {secret}\n") == len(f"value {secret}\n")
    assert out.getvalue() == f"value {MASK}\n"


def test_holds_secret_looks_into_texts_keys_and_nested_values() -> None:
    secret = unique("held")
    masking.register(secret)
    assert masking.holds_secret(f"x{secret}y")
    assert masking.holds_secret({"a": [1, {"b": f"<{secret}>"}]})
    assert masking.holds_secret({secret: 1})
    assert not masking.holds_secret({"a": ["nothing", 12, None], "b": "here"})
