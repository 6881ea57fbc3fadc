"""Render deploy/k8s without network or binaries: the part of kustomize the manifests use.

CI has no `kubectl` or `kustomize` (Debian's kubernetes-client is 1.20, whose kustomize knows
no components), so the tests render the kustomizations here: `resources` (files and
directories), `components`, `namespace`, `images`, and `patches` that delete a resource
(`$patch: delete`). Anything else is refused, so a manifest using more fails loudly instead of
rendering differently. Where `kubectl` is installed, tests/unit/test_k8s_manifests.py checks
that it renders the same objects.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.support import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("production", "production-keda")

Object = dict[str, Any]

_KEYS = {"apiVersion", "kind", "namespace", "resources", "components", "images", "patches"}
# Kinds without a namespace among those the manifests use.
_CLUSTER_SCOPED = {"Namespace"}


class Unsupported(ValueError):
    """The kustomization uses a feature this renderer does not have."""


def render(directory: Path) -> list[Object]:
    """The objects `kubectl kustomize directory` prints, in the order they were declared."""
    return _build(directory, component=False)


def overlay(name: str) -> list[Object]:
    return render(K8S / "overlays" / name)


def _build(
    directory: Path, *, component: bool, objects: list[Object] | None = None
) -> list[Object]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - _KEYS
    if unknown:
        raise Unsupported(f"{directory}: {sorted(unknown)}")
    expected = "Component" if component else "Kustomization"
    if spec.get("kind", "Kustomization") != expected:
        raise Unsupported(f"{directory}: a {spec.get('kind')} where a {expected} belongs")
    objects = [] if objects is None else objects
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            objects.extend(_build(path, component=False))
        else:
            objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for entry in spec.get("components", []):
        _build((directory / entry).resolve(), component=True, objects=objects)
    for patch in spec.get("patches", []):
        _delete(objects, patch)
    for image in spec.get("images", []):
        _set_image(objects, image)
    if "namespace" in spec:
        for item in objects:
            if item["kind"] not in _CLUSTER_SCOPED:
                item.setdefault("metadata", {})["namespace"] = spec["namespace"]
    return objects


def _delete(objects: list[Object], patch: Object) -> None:
    if set(patch) != {"patch"}:
        raise Unsupported(f"patch with {sorted(patch)}")
    body = yaml.safe_load(patch["patch"])
    if not isinstance(body, dict) or body.get("$patch") != "delete":
        raise Unsupported("only `$patch: delete` patches")
    gone = [
        item
        for item in objects
        if item["kind"] == body["kind"]
        and item["apiVersion"] == body["apiVersion"]
        and item["metadata"]["name"] == body["metadata"]["name"]
    ]
    if len(gone) != 1:
        raise Unsupported(f"the delete patch matches {len(gone)} objects")
    objects.remove(gone[0])


def _set_image(objects: list[Object], image: Object) -> None:
    if set(image) - {"name", "newName", "newTag", "digest"}:
        raise Unsupported(f"image with {sorted(image)}")
    for container in (c for item in objects for c in containers(item)):
        name = container["image"].split("@")[0].rsplit(":", 1)[0]
        if name != image["name"]:
            continue
        new = image.get("newName", name)
        if "digest" in image:
            new += "@" + image["digest"]
        elif "newTag" in image:
            new += ":" + image["newTag"]
        container["image"] = new


def pod_spec(item: Object) -> Object | None:
    """The pod template's spec of a Deployment or Job (None for other kinds)."""
    if item["kind"] in {"Deployment", "Job"}:
        spec: Object = item["spec"]["template"]["spec"]
        return spec
    return None


def containers(item: Object) -> list[Object]:
    spec = pod_spec(item)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec["containers"]]


def find(objects: list[Object], kind: str, name: str) -> Object:
    [item] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return copy.deepcopy(item)
