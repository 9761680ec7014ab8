"""Which presets fit which images. A preset's networks take the images of its dataset's card, resized on the device
to its ``data.image_size`` if it sets one; it fits images of that card's shape, or images already at its networks'
size. A ``data.image_size=N`` the user sets resizes any images to N first: then a preset fits when its networks
take N x N images of their channels. No torch, nothing read but preset and card files."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.cards import DataError, load_card
from harness.config.load import load_yaml
from harness.config.presets import DEFAULT_METHOD, preset_folders
from harness.config.schema import DataConfig

Shape = tuple[int, int, int]  # channels, height, width


def shape_text(shape: Shape) -> str:
    """``1x28x28``: channels x height x width."""
    return "x".join(str(v) for v in shape)


@dataclass(frozen=True)
class PresetShape:
    name: str  # the preset's name (fashion-mnist, infogan/digits) or path
    dataset: str  # its data.dataset
    images: Shape  # what its dataset card holds
    net: Shape  # what its networks take (its data.image_size applied)

    def fits(self, shape: Shape, image_size: int = 0) -> bool:
        """Whether images of ``shape`` reach these networks at their size (``image_size``: the user's resize)."""
        if shape[0] != self.net[0]:
            return False
        if image_size:
            return (shape[0], image_size, image_size) == self.net
        return tuple(shape) in (self.images, self.net)

    def sizes(self) -> str:
        """``1x28x28``, or ``1x128x128 or 1x32x32`` for a preset that resizes its dataset's images."""
        return " or ".join([shape_text(self.images)] + ([shape_text(self.net)] if self.net != self.images else []))

    def describe(self) -> str:
        """``fashion-mnist 1x28x28``: the preset and the images it fits."""
        return f"{self.name} {self.sizes()}"


def preset_shape(name: str) -> PresetShape | None:
    """The images a preset's networks are made for; None when its ``data.dataset`` has no card (a preset of a
    dataset only its author knows the shape of)."""
    flat = load_yaml(name)
    dataset = str(flat.get("data.dataset", DataConfig.dataset))
    try:
        card = load_card(dataset)
    except DataError:
        return None
    size = int(flat.get("data.image_size", DataConfig.image_size) or 0)
    net = (card.shape[0], size, size) if size else card.shape
    return PresetShape(name, card.name, card.shape, net)


def family(method: str = DEFAULT_METHOD) -> list[PresetShape]:
    """One preset per dataset of a method's presets (the one named for its dataset, e.g. ``fashion-mnist`` rather
    than ``fashion-mnist-reference``), by name; short names for the default method's."""
    folder = preset_folders().get(method)
    if folder is None:
        return []
    prefix = "" if method == DEFAULT_METHOD else f"{method}/"
    by_dataset: dict[str, PresetShape] = {}
    for stem in sorted(p.stem for p in folder.glob("*.yaml")):
        found = preset_shape(prefix + stem)
        if found is None:
            continue
        kept = by_dataset.get(found.dataset)
        if kept is None or (stem == found.dataset and kept.name != prefix + found.dataset):
            by_dataset[found.dataset] = found
    return sorted(by_dataset.values(), key=lambda p: p.name)


def fitting(presets: list[PresetShape], shape: Shape, image_size: int = 0, prefer: str = "") -> list[PresetShape]:
    """The presets whose networks take ``shape`` images; the one of dataset ``prefer`` first."""
    found = [p for p in presets if p.fits(shape, image_size)]
    return sorted(found, key=lambda p: p.dataset != prefer)


def resize_hint(presets: list[PresetShape], shape: Shape) -> str:
    """``data.image_size=32 (cifar10)``: the resizes after which a preset of these images' channels fits."""
    sizes = [(p.net[1], p.name) for p in presets if p.net[0] == shape[0] and p.net[1] == p.net[2]]
    return ", ".join(f"data.image_size={s} ({n})" for s, n in sorted(sizes))
