"""The toy world: paired [source, target] clips of moving shapes with the exact edit mask, for the four ReCo tasks.

Real editing data has no ground truth beyond the one target a person chose, so quality can only be judged by a VLM.
Here every pair is rendered from a scene description, so the true target and the exact set of changed pixels are
known, and a small model's edits can be scored pixel by pixel. The scenes are built for a tiny VAE and DiT: few
vivid objects with hard edges over low-frequency, slowly drifting backgrounds (sinusoidal stripes, soft checks,
gradients, periods of 16 px or more), smooth straight-line motion, objects that never overlap (so the mask of an edit
is exactly the pixels it changes).

Everything is deterministic in (split, index): the random stream is seeded from both, so train and test never share
a seed, and a few colour/shape combinations never appear in train at all, only in test, to measure generalisation.
Instructions and captions are built from fixed templates whose words are all in `vocabulary()`, which the toy text
encoder uses as its word table.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TASKS = ("add", "remove", "replace", "style")
SPLITS = ("train", "test")

# Vivid object colours (RGB) and muted two-tone background palettes (dark, light): every object colour differs from
# every background tone by at least 60/255 in some channel, so a changed pixel is never below the metrics' threshold.
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (40, 90, 235),
    "yellow": (240, 220, 40),
    "purple": (160, 50, 210),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle", "star", "diamond")
BACKGROUND_PALETTES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "gray": ((60, 60, 60), (140, 140, 140)),
    "teal": ((20, 75, 75), (70, 140, 130)),
    "brown": ((75, 45, 25), (145, 105, 65)),
    "navy": ((20, 25, 70), (70, 80, 150)),
    "olive": ((65, 70, 20), (135, 140, 65)),
}
PATTERNS = ("stripes", "checks", "gradient")
# Seen only in the test split: one colour per shape, so each shape and each of these colours still appears in train.
HELD_OUT_COMBOS = frozenset(
    {("red", "star"), ("green", "triangle"), ("blue", "diamond"), ("yellow", "square"), ("purple", "circle")}
)
POSITIONS = ("on the left", "on the right", "at the top", "at the bottom")
STYLES = {
    "black and white": ("Make it black and white.", "a black and white picture of"),
    "invert": ("Invert the colours.", "an inverted picture of"),
    "pencil sketch": ("Make it look like a pencil sketch.", "a pencil sketch of"),
    "old photo": ("Make it look like an old photo.", "an old photo of"),
}
# Every fixed word of the instruction and caption templates below (placeholders filled from the tables above).
_TEMPLATE_TEXT = (
    "Add a an on the left right at top bottom. Remove the. Replace the with a an. Make the. Turn the into a an. "
    "a an and over stripes checks gradient."
)

_LOOK = re.compile(rf"\b({'|'.join(OBJECT_COLOURS)}) ({'|'.join(SHAPES)})\b")
_OBJECTS_PER_SCENE = (2, 3)  # the edited object plus 1-2 distractors (add: 1-2 objects, then the new one)
_TEST_HELD_OUT_RATE = 0.5  # share of test clips whose edited object is a held-out combination
_PLACEMENT_TRIES = 500


@dataclass(frozen=True)
class ToyClip:
    """One edit pair: source and target frames, the instruction that maps one to the other, and the exact mask."""

    clip_id: str
    split: str
    index: int
    task: str
    instruction: str
    source_caption: str
    target_caption: str
    source: np.ndarray  # uint8 (F, H, W, 3)
    target: np.ndarray  # uint8 (F, H, W, 3)
    mask: np.ndarray  # bool (F, H, W): pixels the edit changes; all True for style


@dataclass(frozen=True)
class _Object:
    colour: str
    shape: str
    radius: float
    start: tuple[float, float]  # centre (x, y) at frame 0
    velocity: tuple[float, float]  # pixels per frame

    def phrase(self) -> str:
        return f"{_article(self.colour)} {self.colour} {self.shape}"

    def centres(self, frames: int) -> np.ndarray:
        t = np.arange(frames, dtype=np.float64)[:, None]
        return np.asarray(self.start)[None, :] + t * np.asarray(self.velocity)[None, :]


def words(text: str) -> list[str]:
    """The lower-case words of a text with punctuation dropped: how instructions are split for the word encoder."""
    return re.findall(r"[a-z]+", text.lower())


def vocabulary() -> tuple[str, ...]:
    """Every word any toy instruction or caption can hold, sorted: the toy text encoder's fixed word table."""
    parts = [_TEMPLATE_TEXT, *OBJECT_COLOURS, *SHAPES, *BACKGROUND_PALETTES, *POSITIONS]
    for instruction, caption_prefix in STYLES.values():
        parts += [instruction, caption_prefix]
    return tuple(sorted({word for part in parts for word in words(part)}))


def unseen_looks(clip: ToyClip) -> set[tuple[str, str]]:
    """The held-out (colour, shape) combinations the edit involves (never in train, so a measure of transfer): the
    added, removed, or old and new object, or for style every object in the frame.

    Read from the captions, which name every object of the source and the target (colours are distinct in a clip).
    """
    before, after = set(_LOOK.findall(clip.source_caption)), set(_LOOK.findall(clip.target_caption))
    involved = before if clip.task == "style" else before ^ after
    return involved & HELD_OUT_COMBOS


def make_clip(split: str, index: int, task: str | None = None, *, frames: int = 9, size: int = 96) -> ToyClip:
    """Render clip `index` of `split`; `task` defaults to TASKS[index % 4] so any run of indices is balanced.

    The random stream is seeded from (split, index) alone, so a clip is regenerated exactly from those and its task.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}.")
    task = TASKS[index % len(TASKS)] if task is None else task
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
    if frames < 1 or size < 32:
        raise ValueError(f"frames must be >= 1 and size >= 32, got frames={frames}, size={size}.")
    rng = np.random.default_rng([SPLITS.index(split), index])
    background, background_phrase = _background(rng, frames, size)
    scene = _Scene(rng, split, frames, size)
    objects = scene.place_objects(int(rng.choice(_OBJECTS_PER_SCENE)) - (task == "add"))
    edit = _EDITS[task](scene, objects)
    coverage = functools.cache(lambda item: _coverage(item, frames, size))  # objects shared by source and target
    source = _render(background, edit.source_objects, coverage)
    target = edit.style(source) if edit.style else _render(background, edit.target_objects, coverage)
    if edit.style:
        mask = np.ones(source.shape[:3], dtype=bool)
    else:
        mask = _edit_mask(edit.changed, coverage)
    return ToyClip(
        clip_id=f"{split}-{index:06d}-{task}",
        split=split,
        index=index,
        task=task,
        instruction=edit.instruction,
        source_caption=_caption(edit.source_objects, background_phrase),
        target_caption=edit.caption_prefix + _caption(edit.target_objects, background_phrase),
        source=source,
        target=target,
        mask=mask,
    )


@dataclass(frozen=True)
class SeveralEdits:
    """Edits of one scene made at once: `clip` holds the source, the target with every edit applied, the union of
    the regions as its mask and the edits' instructions joined as its instruction (the canvas instruction); `masks`
    and `instructions` hold each edit's own region and words, in the same order."""

    clip: ToyClip
    masks: tuple[np.ndarray, ...]  # bool (F, H, W) each, disjoint
    instructions: tuple[str, ...]


def make_two_removals(split: str, index: int, *, frames: int = 9, size: int = 96) -> SeveralEdits:
    """A scene of three objects of which two are removed, each removal a region with its own instruction.

    The ground truth of two edits made in one pass: the target keeps the third object, so an editor that removes
    everything named, or nothing, is told apart from one that removes exactly what each region was told. Seeded from
    (split, index) in a stream of its own, apart from `make_clip`'s.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    rng = np.random.default_rng([SPLITS.index(split), index, len(TASKS)])
    background, background_phrase = _background(rng, frames, size)
    objects = _Scene(rng, split, frames, size).place_objects(3)
    coverage = functools.cache(lambda item: _coverage(item, frames, size))
    removed, kept = objects[:2], objects[2:]
    instructions = tuple(f"Remove the {item.colour} {item.shape}." for item in removed)
    first, second = (f"the {item.colour} {item.shape}" for item in removed)
    masks = tuple(coverage(item) for item in removed)
    clip = ToyClip(
        clip_id=f"{split}-{index:06d}-remove-two",
        split=split,
        index=index,
        task="remove",
        instruction=f"Remove {first} and {second}.",
        source_caption=_caption(objects, background_phrase),
        target_caption=_caption(kept, background_phrase),
        source=_render(background, objects, coverage),
        target=_render(background, kept, coverage),
        mask=np.logical_or(*masks),
    )
    return SeveralEdits(clip, masks, instructions)


def _edit_mask(changed: list[_Object], coverage: Callable[[_Object], np.ndarray]) -> np.ndarray:
    """The edited objects' footprints; where a shape-only replace paints the same colour over itself, nothing changes,
    so the overlap of old and new shape is left out."""
    footprints = [coverage(item) for item in changed]
    mask = np.logical_or.reduce(footprints)
    if len(changed) == 2 and changed[0].colour == changed[1].colour:
        mask &= ~(footprints[0] & footprints[1])
    return mask


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _caption(objects: list[_Object], background_phrase: str) -> str:
    phrases = [item.phrase() for item in objects]
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"{listed} over {background_phrase}."


# --- scene layout -------------------------------------------------------------------------------------------------


class _Scene:
    """Draws objects for one clip: colours distinct within the clip, combinations allowed by the split, no overlaps."""

    def __init__(self, rng: np.random.Generator, split: str, frames: int, size: int):
        self.rng, self.split, self.frames, self.size = rng, split, frames, size
        self.placed: list[_Object] = []

    def free_colours(self) -> list[str]:
        used = {item.colour for item in self.placed}
        return [colour for colour in OBJECT_COLOURS if colour not in used]

    def allowed(self, colour: str, shape: str, held_out: bool) -> bool:
        """Train never sees a held-out combination; a held-out draw in test must be one."""
        in_held_out = (colour, shape) in HELD_OUT_COMBOS
        return in_held_out if held_out else (not in_held_out or self.split == "test")

    def draw_held_out(self) -> bool:
        return self.split == "test" and bool(self.rng.random() < _TEST_HELD_OUT_RATE)

    def pick_look(
        self, held_out: bool, colours: list[str] | None = None, shapes: list[str] | None = None
    ) -> tuple[str, str]:
        """A (colour, shape) that `allowed` accepts, from `colours` (default: the free ones) and `shapes` (default:
        all); a held-out draw falls back to any allowed look when none of the choices is held out."""
        colours = self.free_colours() if colours is None else colours
        shapes = list(SHAPES) if shapes is None else shapes
        options = [(c, s) for c in colours for s in shapes if self.allowed(c, s, held_out)]
        if not options:
            options = [(c, s) for c in colours for s in shapes if self.allowed(c, s, False)]
        return options[int(self.rng.integers(len(options)))]

    def place_objects(self, count: int) -> list[_Object]:
        """`count` new objects; the first may be a held-out combination (test split only)."""
        held_out = self.draw_held_out()
        made = []
        for number in range(count):
            colour, shape = self.pick_look(held_out and number == 0)
            made.append(self.place(colour, shape))
        return made

    def place(self, colour: str, shape: str) -> _Object:
        """`try_place` anywhere in the frame, which cannot fail for the few objects a scene holds at sizes >= 32."""
        item = self.try_place(colour, shape)
        if item is None:
            raise RuntimeError(f"could not place a {colour} {shape} in a {self.size}px frame; use a larger size.")
        return item

    def try_place(self, colour: str, shape: str, position: str | None = None) -> _Object | None:
        """An object moving in a straight line that stays inside the frame (and, on average, in `position`'s region)
        and keeps clear of every object placed so far, on every frame."""
        size, frames, rng = self.size, self.frames, self.rng
        for _ in range(_PLACEMENT_TRIES):
            radius = float(rng.uniform(0.12, 0.16) * size)
            speed, angle = rng.uniform(0.6, 2.0) * size / 96, rng.uniform(0, 2 * np.pi)
            velocity = np.array([speed * np.cos(angle), speed * np.sin(angle)])
            reach = np.abs(velocity) * (frames - 1) / 2 + radius + 2  # the mean centre's distance from any edge
            low, high = _region_box(position, size)
            low, high = np.maximum(low, reach), np.minimum(high, size - reach)
            if np.any(low >= high):
                continue
            middle = rng.uniform(low, high)
            start = middle - velocity * (frames - 1) / 2
            item = _Object(colour, shape, radius, (float(start[0]), float(start[1])), tuple(map(float, velocity)))
            if self._clear(item):
                self.placed.append(item)
                return item
        return None

    def _clear(self, item: _Object) -> bool:
        centres = item.centres(self.frames)
        return all(
            np.linalg.norm(centres - other.centres(self.frames), axis=1).min() > item.radius + other.radius + 3
            for other in self.placed
        )


def _region_box(position: str | None, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) box a mean centre must fall in for `position` (the whole frame for none)."""
    low, high = np.zeros(2), np.full(2, float(size))
    if position == "on the left":
        high[0] = 0.4 * size
    elif position == "on the right":
        low[0] = 0.6 * size
    elif position == "at the top":
        high[1] = 0.4 * size
    elif position == "at the bottom":
        low[1] = 0.6 * size
    return low, high


# --- the four edits -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Edit:
    instruction: str
    source_objects: list[_Object]
    target_objects: list[_Object]
    changed: list[_Object]  # the objects whose footprints form the mask: added, removed, or old and new
    caption_prefix: str = ""
    style: Callable[[np.ndarray], np.ndarray] | None = None  # uint8 frames -> uint8 frames, for style edits


def _add(scene: _Scene, objects: list[_Object]) -> _Edit:
    """The new object goes where the instruction says; a region the other objects crowd out is swapped for another."""
    colour, shape = scene.pick_look(scene.draw_held_out())
    for position in scene.rng.permutation(POSITIONS):
        new = scene.try_place(colour, shape, str(position))
        if new is not None:
            break
    else:
        raise RuntimeError(f"no room to add a {colour} {shape} in a {scene.size}px frame; use a larger size.")
    return _Edit(f"Add {new.phrase()} {position}.", objects, [*objects, new], [new])


def _remove(scene: _Scene, objects: list[_Object]) -> _Edit:
    gone = objects[0]
    return _Edit(f"Remove the {gone.colour} {gone.shape}.", objects, objects[1:], [gone])


def _replace(scene: _Scene, objects: list[_Object]) -> _Edit:
    """Change shape and colour, colour only, or shape only (a third each); the new object moves like the old one."""
    old = objects[0]
    held_out = scene.draw_held_out()
    kind = int(scene.rng.integers(3))
    scene.placed.remove(old)  # the old object's colour becomes free only if the new one keeps it
    others = [item.colour for item in scene.placed]
    if kind == 0:
        colour, shape = _new_look(scene, held_out, old, others, keep=None)
        text = f"Replace the {old.colour} {old.shape} with {_article(colour)} {colour} {shape}."
    elif kind == 1:
        colour, shape = _new_look(scene, held_out, old, others, keep="shape")
        text = f"Make the {old.colour} {old.shape} {colour}."
    else:
        colour, shape = _new_look(scene, held_out, old, others, keep="colour")
        text = f"Turn the {old.colour} {old.shape} into {_article(shape)} {shape}."
    new = _Object(colour, shape, old.radius, old.start, old.velocity)
    scene.placed.append(new)
    return _Edit(text, objects, [new, *objects[1:]], [old, new])


def _new_look(
    scene: _Scene, held_out: bool, old: _Object, taken: list[str], keep: str | None
) -> tuple[str, str]:
    """A (colour, shape) differing from `old` in whatever is not kept, with a colour no other object has."""
    colours = [old.colour] if keep == "colour" else [c for c in OBJECT_COLOURS if c not in taken and c != old.colour]
    shapes = [old.shape] if keep == "shape" else [s for s in SHAPES if s != old.shape]
    return scene.pick_look(held_out, colours, shapes)


def _style(scene: _Scene, objects: list[_Object]) -> _Edit:
    name = list(STYLES)[int(scene.rng.integers(len(STYLES)))]
    instruction, caption_prefix = STYLES[name]
    return _Edit(instruction, objects, objects, [], caption_prefix + " ", _STYLE_FILTERS[name])


_EDITS = {"add": _add, "remove": _remove, "replace": _replace, "style": _style}


# --- style filters (uint8 frames in, uint8 frames out) ------------------------------------------------------------


def _grey(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _black_and_white(frames: np.ndarray) -> np.ndarray:
    return _to_uint8(np.repeat(_grey(frames)[..., None], 3, axis=-1))


def _invert(frames: np.ndarray) -> np.ndarray:
    return 255 - frames


def _pencil_sketch(frames: np.ndarray) -> np.ndarray:
    """Light paper with soft dark lines along edges: 3-px-wide strokes a tiny VAE can carry, plus faint shading."""
    grey = _grey(frames) / 255
    padded = np.pad(grey, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    gy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    edges = _box_blur(np.hypot(gx, gy))
    paper = 0.92 - 0.15 * (1 - grey)
    sketch = np.clip(paper - 2.5 * edges, 0, 1) * 255
    return _to_uint8(np.repeat(sketch[..., None], 3, axis=-1))


def _old_photo(frames: np.ndarray) -> np.ndarray:
    sepia = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    return _to_uint8(0.85 * (frames.astype(np.float64) @ sepia.T) + 10)


def _box_blur(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), mode="edge")
    height, width = image.shape[1:]
    return sum(padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)) / 9


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


_STYLE_FILTERS = {
    "black and white": _black_and_white,
    "invert": _invert,
    "pencil sketch": _pencil_sketch,
    "old photo": _old_photo,
}


# --- rendering ----------------------------------------------------------------------------------------------------


def _background(rng: np.random.Generator, frames: int, size: int) -> tuple[np.ndarray, str]:
    """A drifting two-tone pattern (uint8 RGB, (F, H, W, 3)) and its caption phrase."""
    palette = list(BACKGROUND_PALETTES)[int(rng.integers(len(BACKGROUND_PALETTES)))]
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    dark, light = (np.asarray(tone, dtype=np.float64) for tone in BACKGROUND_PALETTES[palette])
    t = np.arange(frames, dtype=np.float64)[:, None, None]
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    angle = rng.uniform(0, np.pi)
    along = x[None] * np.cos(angle) + y[None] * np.sin(angle)
    drift = rng.uniform(0.5, 1.5) * rng.choice([-1, 1]) * size / 96  # pixels per frame
    if pattern == "stripes":
        period = rng.uniform(16, 32) * size / 96
        level = 0.5 + 0.5 * np.sin(2 * np.pi * (along + drift * t) / period)
    elif pattern == "checks":
        period = rng.uniform(24, 40) * size / 96
        across = -x[None] * np.sin(angle) + y[None] * np.cos(angle)
        wave = np.sin(2 * np.pi * (along + drift * t) / period) * np.sin(2 * np.pi * across / period)
        level = 0.5 + 0.5 * wave
    else:
        level = 0.5 + 0.5 * np.sin(2 * np.pi * (along + drift * t) / (size * 2.5) + rng.uniform(0, 2 * np.pi))
    level = np.broadcast_to(level, (frames, size, size))
    phrase = f"{_article(palette)} {palette} gradient" if pattern == "gradient" else f"{palette} {pattern}"
    return _to_uint8(dark + (light - dark) * level[..., None]), phrase


def _coverage(item: _Object, frames: int, size: int) -> np.ndarray:
    """Which pixel centres (F, H, W) the object covers: hard edges, so the mask is exactly the pixels it paints.

    Each frame is tested only inside the object's bounding box (every shape fits in its radius), ten times fewer
    pixels than the frame.
    """
    covered = np.zeros((frames, size, size), dtype=bool)
    for frame, (cx, cy) in enumerate(item.centres(frames)):
        x0, x1 = max(0, int(cx - item.radius) - 1), min(size, int(cx + item.radius) + 2)
        y0, y1 = max(0, int(cy - item.radius) - 1), min(size, int(cy + item.radius) + 2)
        y, x = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
        covered[frame, y0:y1, x0:x1] = _inside_shape(item.shape, x - cx, y - cy, item.radius)
    return covered


def _inside_shape(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Points at offsets (dx, dy) from a shape's centre that lie inside it; every shape fits in the radius r."""
    if shape == "circle":
        return dx * dx + dy * dy < r * r
    if shape == "square":
        return (np.abs(dx) < 0.8 * r) & (np.abs(dy) < 0.8 * r)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) < r
    if shape == "triangle":
        return _inside_convex(dx, dy, _ring(3, r, 0.0))
    return _inside_star(dx, dy, r)


def _ring(count: int, radius: float, offset: float) -> np.ndarray:
    """`count` points on a circle, the first straight up (image y grows downward), counter-clockwise on screen."""
    angles = -np.pi / 2 - offset - 2 * np.pi * np.arange(count) / count
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _inside_convex(dx: np.ndarray, dy: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Points inside a convex polygon (corners in a consistent winding), by the sign of every edge's cross product."""
    inside = np.ones(dx.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(corners, np.roll(corners, -1, axis=0)):
        inside &= (x1 - x0) * (dy - y0) - (y1 - y0) * (dx - x0) <= 0
    return inside


def _inside_star(dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """A five-pointed star: its inner pentagon plus one triangle per point (a star is not convex, its parts are)."""
    outer, inner = _ring(5, radius, 0.0), _ring(5, 0.45 * radius, np.pi / 5)
    inside = _inside_convex(dx, dy, inner)
    for point in range(5):
        inside |= _inside_convex(dx, dy, np.stack([inner[point - 1], outer[point], inner[point]]))
    return inside


def _render(background: np.ndarray, objects: list[_Object], coverage: Callable[[_Object], np.ndarray]) -> np.ndarray:
    canvas = background.copy()
    for item in objects:
        canvas[coverage(item)] = OBJECT_COLOURS[item.colour]
    return canvas
