"""What the Kubernetes API server refuses in a Job manifest that no JSON schema says:
quantities, image references, env names, DNS names, label syntax, enumerations. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flowplan.findings import Path_, Severity


@dataclass(frozen=True)
class Issue:
    path: Path_  # in the manifest
    message: str
    code: str
    severity: Severity = "error"


QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIX: dict[str, int | Decimal] = {
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
           "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}  # fmt: skip
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # before Kubernetes 1.32 (relaxed since)
# the distribution reference grammar (what `docker pull` and the kubelet accept)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
IMAGE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
JOB_RESTART_POLICIES = ("Never", "OnFailure")


def quantity_value(text: str) -> Decimal | None:
    """A Kubernetes quantity's value (`500m` -> 0.5), None when it is not one."""
    match = QUANTITY.match(text)
    if not match:
        return None
    suffix = match.group(3) or ""
    try:
        number = Decimal(text[: len(text) - len(suffix)])
        if suffix[:1] in ("e", "E"):
            return number * Decimal(10) ** int(suffix[1:])
        return number * Decimal(_SUFFIX[suffix])
    except (InvalidOperation, ValueError):
        return None


def image_problem(image: str) -> str | None:
    if not image.strip():
        return "the image is empty"
    if image != image.strip():
        return f"image {image!r} has spaces around it"
    if IMAGE.match(image):
        return None
    head = image.split("@")[0].rsplit(":", 1)[0] if "/" in image else image.split(":")[0]
    if head != head.lower() and IMAGE.match(image.lower()):
        return f"image {image!r} is not a valid reference: repository names are lowercase"
    return (f"image {image!r} is not a valid image reference"
            " ([registry[:port]/]name[:tag][@sha256:digest])")  # fmt: skip


def _name_problem(value: str, what: str, subdomain: bool = False, limit: int = 63) -> str | None:
    pattern = DNS_SUBDOMAIN if subdomain else DNS_LABEL
    kind = "DNS subdomain" if subdomain else "DNS label"
    if len(value) > limit:
        return f"{what} {value!r} is longer than {limit} characters"
    if not pattern.match(value):
        return (f"{what} {value!r} is not a valid {kind} (lowercase letters, digits and '-'"
                f"{', and dots between parts' if subdomain else ''}; starting and ending with a"
                " letter or digit)")  # fmt: skip
    return None


def _text_issue(
    where: Mapping[str, Any], key: str, path: Path_, code: str, rule: Callable[[str], str | None]
) -> Iterator[Issue]:
    """The issue `rule` finds in the text at `key` (nothing for a value that is not text: the
    schema reports its type)."""
    value = where.get(key)
    problem = rule(value) if isinstance(value, str) else None
    if problem:
        yield Issue((*path, key), problem, code)


def semantic_issues(manifest: Mapping[str, Any]) -> list[Issue]:
    """What the API server refuses that the schemas let through."""
    return list(_semantic(manifest))


def _semantic(manifest: Mapping[str, Any]) -> Iterator[Issue]:
    metadata = manifest.get("metadata")
    if isinstance(metadata, Mapping):
        yield from _metadata(metadata, ("metadata",), top=True)
    spec = manifest.get("spec")
    if not isinstance(spec, Mapping):
        return
    template = spec.get("template")
    if not isinstance(template, Mapping):
        return
    if isinstance(template.get("metadata"), Mapping):
        yield from _metadata(template["metadata"], ("spec", "template", "metadata"))
    pod = template.get("spec")
    if not isinstance(pod, Mapping):
        return
    base: Path_ = ("spec", "template", "spec")
    policy = pod.get("restartPolicy")
    if isinstance(policy, str) and policy not in JOB_RESTART_POLICIES:
        yield Issue((*base, "restartPolicy"), f"a Job's pods must have restartPolicy Never or"
                    f" OnFailure, got {policy!r}", "k8s-value")  # fmt: skip
    yield from _text_issue(pod, "serviceAccountName", base, "k8s-name", lambda account: account
                           and _name_problem(account, "service account name", subdomain=True,
                                             limit=253))  # fmt: skip
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(kind) or ()):
            if isinstance(container, Mapping):
                yield from _container(container, (*base, kind, index))


def _metadata(metadata: Mapping[str, Any], path: Path_, top: bool = False) -> Iterator[Issue]:
    if top:
        yield from _text_issue(
            metadata,
            "namespace",
            path,
            "k8s-name",
            lambda namespace: _name_problem(namespace, "namespace"),
        )
        yield from _text_issue(
            metadata, "name", path, "k8s-name", lambda name: _name_problem(name, "Job name")
        )
        yield from _text_issue(metadata, "generateName", path, "k8s-name", _generate_problem)
    labels = metadata.get("labels")
    for key, value in labels.items() if isinstance(labels, Mapping) else ():
        where = (*path, "labels", key)
        problem = _label_key_problem(str(key))
        if problem:
            yield Issue(where, problem, "k8s-label")
        if isinstance(value, str) and value and (len(value) > 63 or not LABEL_NAME.match(value)):
            yield Issue(where, f"label value {value!r} is not valid (at most 63 letters, digits,"
                        " '-', '_' or '.', starting and ending with a letter or digit)",
                        "k8s-label")  # fmt: skip


def _generate_problem(generate: str) -> str | None:
    """The API server adds 5 characters to `generateName`; a Job's name must stay a DNS
    label."""
    if not generate:
        return None
    problem = _name_problem(generate + "x", "generateName", limit=58)
    return problem.replace(f"{generate + 'x'!r}", repr(generate)) if problem else None


def _label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return f"label key {key!r}: the prefix must be a DNS subdomain"
    if len(name) > 63 or not LABEL_NAME.match(name):
        return (f"label key {key!r} is not valid (a name of at most 63 letters, digits, '-',"
                " '_' or '.', starting and ending with a letter or digit)")  # fmt: skip
    return None


def _container(container: Mapping[str, Any], path: Path_) -> Iterator[Issue]:
    yield from _text_issue(
        container, "name", path, "k8s-name", lambda name: _name_problem(name, "container name")
    )
    yield from _text_issue(container, "image", path, "k8s-image", image_problem)
    policy = container.get("imagePullPolicy")
    if isinstance(policy, str) and policy not in PULL_POLICIES:
        yield Issue((*path, "imagePullPolicy"), f"imagePullPolicy must be one of"
                    f" {', '.join(PULL_POLICIES)}; got {policy!r}", "k8s-value")  # fmt: skip
    env = container.get("env")
    for index, item in enumerate(env if isinstance(env, list) else ()):
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            yield from _env_name(item["name"], (*path, "env", index, "name"))
    resources = container.get("resources")
    if isinstance(resources, Mapping):
        yield from _resources(resources, (*path, "resources"))


def _env_name(name: str, path: Path_) -> Iterator[Issue]:
    if not name or "=" in name or not all(" " <= c <= "~" for c in name):
        yield Issue(path, f"environment variable name {name!r} is not valid (printable ASCII"
                    " characters other than '=')", "k8s-env-name")  # fmt: skip
    elif not ENV_NAME.match(name):
        yield Issue(path, f"environment variable name {name!r} is refused by Kubernetes before"
                    " 1.32 (letters, digits, '_', '-' and '.', not starting with a digit)",
                    "k8s-env-name", "warning")  # fmt: skip


def _resources(resources: Mapping[str, Any], path: Path_) -> Iterator[Issue]:
    parsed: dict[str, dict[str, Decimal]] = {}
    for kind in ("requests", "limits"):
        amounts = resources.get(kind)
        for resource, amount in amounts.items() if isinstance(amounts, Mapping) else ():
            where = (*path, kind, resource)
            if isinstance(amount, bool) or not isinstance(amount, str | int | float):
                continue  # the schema reports the type
            value = quantity_value(str(amount))
            if value is None:
                yield Issue(where, f"{amount!r} is not a Kubernetes quantity (a number with an"
                            " optional suffix: 500m, 2, 1.5, 512Mi, 2Gi, 1e3)",
                            "k8s-quantity")  # fmt: skip
            elif value < 0:
                yield Issue(where, f"{amount!r}: a resource quantity cannot be negative",
                            "k8s-quantity")  # fmt: skip
            else:
                parsed.setdefault(kind, {})[str(resource)] = value
    for resource, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(resource)
        if limit is not None and request > limit:
            yield Issue((*path, "requests", resource), f"the {resource} request"
                        f" ({resources['requests'][resource]}) is more than its limit"
                        f" ({resources['limits'][resource]}); Kubernetes refuses the pod",
                        "k8s-quantity")  # fmt: skip
