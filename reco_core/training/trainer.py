"""Train a ReCo LoRA on Wan2.1-VACE with diffusers + peft, on one process or many (accelerate / torchrun).

What is trained is what ReCo released: LoRA (alpha = rank, scale 1) on q, k, v, o of self- and cross-attention and
on both FFN linears of every DiT and VACE block, under L = L_ic + lambda_latent L_latent + lambda_attn L_attn
(.losses). The result is saved in ComfyUI's LoRA key form, so LoraLoaderModelOnly loads it unchanged.

Determinism, which makes resuming and multi-process runs exact rather than approximately right:

* Sample order is a seeded permutation per epoch, addressed by a global position (samples consumed so far).
* Each sample's noise and sigma come from a generator seeded by (seed, position), never from a global stream, so they
  do not depend on how many processes run or where a run was resumed.
* An optimizer step consumes ``processes x grad_accumulation`` consecutive positions; process r takes the r-th run
  of ``grad_accumulation`` of them. Each process divides its losses by ``grad_accumulation`` and DDP averages over
  processes, so P processes with accumulation A compute the same update as one process with accumulation P x A.
* A checkpoint (.checkpoints) holds the adapter, optimizer, scheduler, RNG states, position and history, so a
  resumed run continues with the exact state the interrupted one had.

Batch size is 1 (samples differ in token count); larger effective batches come from accumulation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ..interruption import check_interrupted
from ..model_call import predict_velocity
from ..schedule import RECO_SHIFT
from ..wan_models import load_transformer
from ..weights.checkpoint import load_state_dict, save_safetensors
from ..weights.lora_files import PRODUCER, lora_metadata
from ..weights.lora_keys import convert_lora
from .attention_capture import AttentionCapture
from .checkpoints import (
    LORA_FILE,
    OPTIMIZER_FILE,
    CheckpointStore,
    load_rng_state,
    read_state,
    save_rng_state,
    step_of,
    write_state,
)
from .fp8_base import BASE_WEIGHT_DTYPES, store_base_in_fp8
from .loss_plot import plot_losses
from .losses import (
    DEFAULT_LAMBDA_ATTN,
    DEFAULT_LAMBDA_LATENT,
    LossTerms,
    attention_region,
    has_edit_region,
    noised_latent,
    reco_loss,
    sample_sigma,
)

__all__ = [
    "RECO_LORA_TARGETS",
    "TrainConfig",
    "TrainResult",
    "TrainingStopped",
    "launched_on_cpu",
    "plot_losses",
    "train",
]

logger = logging.getLogger(__name__)

RECO_LORA_TARGETS = (
    "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
    "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
    "ffn.net.0.proj", "ffn.net.2",
)
"""ReCo's LoRA targets by their diffusers names (self_attn.q ... ffn.2 in Wan's), in every DiT and VACE block."""

Precision = Literal["fp32", "bf16"]
BaseWeightDtype = Literal["default", "fp8_e4m3fn"]
OptimizerName = Literal["adamw", "adamw8bit"]
Callback = Callable[[int, int, dict[str, float]], None]
Preview = Callable[[int, torch.nn.Module], None]

_ACCELERATE_PRECISION = {"fp32": "no", "bf16": "bf16"}
_MODEL_DTYPE = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Settings a resumed run must share with the checkpoint; anything else (steps, logging, paths) may change.
_IDENTITY = ("rank", "alpha", "targets", "learning_rate", "optimizer", "weight_decay", "warmup_steps",
             "grad_accumulation", "mixed_precision", "seed", "lambda_latent", "lambda_attn", "shift")
_ITEM_KEYS = ("x0", "context", "prompt_embeds", "latent_mask")


class TrainingStopped(RuntimeError):
    """Raised on the other processes of a multi-process run when the main process's callback stopped training."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Defaults are the authors' settings (RECO_METHOD.md, Training)."""

    base_model: Path  # Wan2.1-VACE: ComfyUI single file or diffusers folder
    output: Path  # the final LoRA (.safetensors, ComfyUI keys)
    rank: int = 128
    alpha: float | None = None  # None: alpha = rank (scale 1, as ReCo trains)
    targets: tuple[str, ...] = RECO_LORA_TARGETS
    learning_rate: float = 5e-5
    optimizer: OptimizerName = "adamw"  # "adamw8bit": bitsandbytes AdamW8bit when installed (CUDA), else AdamW
    weight_decay: float = 0.01
    warmup_steps: int = 0  # linear LR warm-up, then constant
    steps: int = 1000  # optimizer steps
    grad_accumulation: int = 2
    mixed_precision: Precision = "bf16"
    gradient_checkpointing: bool = True
    seed: int = 0
    lambda_latent: float = DEFAULT_LAMBDA_LATENT  # 0 switches L_latent off
    lambda_attn: float = DEFAULT_LAMBDA_ATTN  # 0 switches L_attn off (and the attention capture)
    shift: float = RECO_SHIFT
    checkpoint_every: int = 500  # 0: no checkpoints
    keep_checkpoints: int = 2
    checkpoint_dir: Path | None = None  # None: "<output without suffix>.checkpoints" beside the output
    preview_every: int = 0  # 0: never call the preview hook
    log_every: int = 10
    resume: bool = False
    # "fp8_e4m3fn": the frozen base's block Linears stored in float8, upcast per layer (.fp8_base). Not part of the
    # run's identity: a run may resume on a smaller card with the base in fp8, or back.
    base_weight_dtype: BaseWeightDtype = "default"

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_model", Path(self.base_model))
        object.__setattr__(self, "output", Path(self.output))
        object.__setattr__(self, "targets", tuple(self.targets))
        if self.checkpoint_dir is not None:
            object.__setattr__(self, "checkpoint_dir", Path(self.checkpoint_dir))
        if self.output.suffix.lower() != ".safetensors":
            raise ValueError(f"output must be a .safetensors file, got {self.output}")
        unknown = [t for t in self.targets if t not in RECO_LORA_TARGETS]
        if not self.targets or unknown:
            raise ValueError(f"targets must be a non-empty subset of {RECO_LORA_TARGETS}, got unknown {unknown}")
        if self.mixed_precision not in _ACCELERATE_PRECISION:
            raise ValueError(f"mixed_precision must be 'fp32' or 'bf16', got {self.mixed_precision!r}")
        if self.base_weight_dtype not in BASE_WEIGHT_DTYPES:
            raise ValueError(f"base_weight_dtype must be one of {list(BASE_WEIGHT_DTYPES)}, got "
                             f"{self.base_weight_dtype!r}")
        if self.optimizer not in ("adamw", "adamw8bit"):
            raise ValueError(f"optimizer must be 'adamw' or 'adamw8bit', got {self.optimizer!r}")
        for name in ("rank", "steps", "grad_accumulation", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "checkpoint_every", "preview_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("learning_rate", "weight_decay", "lambda_latent", "lambda_attn"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if self.alpha is not None and not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")

    @property
    def lora_alpha(self) -> float:
        return float(self.rank if self.alpha is None else self.alpha)

    @property
    def checkpoint_folder(self) -> Path:
        return self.checkpoint_dir or self.output.with_name(self.output.stem + ".checkpoints")

    def identity(self) -> dict[str, Any]:
        """The settings a checkpoint records and a resumed run must match (JSON-ready)."""
        values = asdict(self)
        return {name: list(values[name]) if name == "targets" else values[name] for name in _IDENTITY}


@dataclass
class TrainResult:
    lora_path: Path
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)  # per optimizer step: step, lr, total, ic, ...
    resumed_from: Path | None = None
    checkpoint_dir: Path | None = None


# ---------------------------------------------------------------------------------------------------------- data


def _seed_for(seed: int, purpose: str, index: int) -> int:
    """A 63-bit seed for (run seed, purpose, index): independent streams without any global RNG."""
    digest = hashlib.blake2b(f"{seed}:{purpose}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class _SampleOrder:
    """Dataset index for a global position: a seeded permutation per epoch, so any position is reachable at once."""

    def __init__(self, count: int, seed: int):
        self.count, self.seed = count, seed
        self._epoch, self._permutation = -1, torch.empty(0, dtype=torch.long)

    def __getitem__(self, position: int) -> int:
        epoch, offset = divmod(position, self.count)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(_seed_for(self.seed, "order", epoch))
            self._epoch, self._permutation = epoch, torch.randperm(self.count, generator=generator)
        return int(self._permutation[offset])


def _indexable(dataset: Iterable[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """Datasets with len() and [] are used as they are; other iterables are read once into a list."""
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
        items = dataset
    else:
        items = list(dataset)
    if len(items) == 0:
        raise ValueError("the training dataset is empty")
    return items


def _sample_tensors(item: Mapping[str, Any], device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """One dataset item as a batch of one on the training device; x0 and the mask stay float32 for the losses."""
    missing = [key for key in _ITEM_KEYS if key not in item]
    if missing:
        raise ValueError(f"training item {item.get('index', '?')} lacks {missing}; items need {list(_ITEM_KEYS)}")
    return {
        "x0": item["x0"].to(device, torch.float32).unsqueeze(0),
        "context": item["context"].to(device, dtype).unsqueeze(0),
        "prompt_embeds": item["prompt_embeds"].to(device, dtype).unsqueeze(0),
        "latent_mask": item["latent_mask"].to(device, torch.float32),
    }


# --------------------------------------------------------------------------------------------------------- model


def _target_pattern(targets: Sequence[str]) -> str:
    """peft full-match regex for the target Linears in both block trees (and nothing else, e.g. VACE proj_in)."""
    names = "|".join(t.replace(".", r"\.") for t in targets)
    return rf"^(?:blocks|vace_blocks)\.\d+\.(?:{names})$"


def _non_reentrant_checkpoint(module: torch.nn.Module, *args: Any) -> Any:
    """Activation checkpointing that records the graph during forward, which the side-channel L_attn score needs."""
    return torch.utils.checkpoint.checkpoint(module.__call__, *args, use_reentrant=False)


def _prepare_transformer(config: TrainConfig) -> torch.nn.Module:
    """Frozen base weights in the run's precision (block Linears in float8 if asked), with fresh LoRA adapters
    (float32) in the target layers."""
    from peft import LoraConfig, inject_adapter_in_model

    # Straight into the run's precision (diffusers' float32 modules stay float32): no float32 copy of the base.
    transformer = load_transformer(config.base_model, _MODEL_DTYPE[config.mixed_precision])
    transformer.requires_grad_(False)
    torch.manual_seed(config.seed)  # peft draws lora_A from the global generator; lora_B starts at zero
    lora = LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, target_modules=_target_pattern(config.targets),
                      lora_dropout=0.0, init_lora_weights=True)
    inject_adapter_in_model(lora, transformer)
    for name, parameter in transformer.named_parameters():
        parameter.requires_grad_(".lora_" in name)
        if ".lora_" in name:
            parameter.data = parameter.data.float()
    if config.base_weight_dtype == "fp8_e4m3fn":
        store_base_in_fp8(transformer)  # after the injection, which gives each adapter its base layer's dtype
    if config.gradient_checkpointing:
        transformer.enable_gradient_checkpointing(_non_reentrant_checkpoint)
    return transformer.train()


def _adapter_parameters(transformer: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {name: p for name, p in transformer.named_parameters() if p.requires_grad}


def _skip_frozen_sync(transformer: torch.nn.Module) -> None:
    """Keep DDP from broadcasting the frozen base at start-up: every process loaded it from the same file, and gloo
    cannot send float8 tensors ("Invalid scalar type"). The adapters are still synchronized and all-reduced."""
    from torch.nn.parallel import DistributedDataParallel

    frozen = [name for name, p in transformer.named_parameters() if not p.requires_grad]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(transformer, frozen)


def _lora_state_dict(transformer: torch.nn.Module, config: TrainConfig) -> dict[str, torch.Tensor]:
    """The adapter in ComfyUI keys; ``.alpha`` tensors only when alpha != rank (ComfyUI's scale is 1 without)."""
    tensors = {name: p.detach().float().cpu() for name, p in _adapter_parameters(transformer).items()}
    if config.lora_alpha != config.rank:
        for name in [n for n in tensors if n.endswith(".lora_A.default.weight")]:
            tensors[name.removesuffix(".lora_A.default.weight") + ".alpha"] = torch.tensor(config.lora_alpha)
    return convert_lora(tensors, "comfy")


def _load_lora_state_dict(transformer: torch.nn.Module, file: Path) -> None:
    """Copy a checkpoint's adapter (ComfyUI keys) into the injected LoRA parameters, exactly and completely."""
    parameters = _adapter_parameters(transformer)
    loaded = {}
    for key, tensor in convert_lora(load_state_dict(file), "diffusers").items():
        if key.endswith(".alpha"):
            continue
        name = key.removeprefix("transformer.").replace(".weight", ".default.weight")
        loaded[name] = tensor
    if loaded.keys() != parameters.keys():
        raise ValueError(f"{file} does not hold this run's adapter (rank/targets differ); start a fresh run")
    with torch.no_grad():
        for name, parameter in parameters.items():
            if loaded[name].shape != parameter.shape:
                raise ValueError(f"{file}: {name} has shape {tuple(loaded[name].shape)}, expected "
                                 f"{tuple(parameter.shape)}; the checkpoint was trained with another rank")
            parameter.copy_(loaded[name])


def _make_optimizer(config: TrainConfig, parameters: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if config.optimizer == "adamw8bit":
        try:
            import bitsandbytes
        except ImportError:
            warnings.warn("optimizer 'adamw8bit' needs bitsandbytes, which is not installed; using torch AdamW",
                          stacklevel=3)
        else:
            return bitsandbytes.optim.AdamW8bit(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)


def _warmup(warmup_steps: int) -> Callable[[int], float]:
    return lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0


# ---------------------------------------------------------------------------------------------------------- step


def _sample_losses(model, capture: AttentionCapture | None, batch: dict[str, torch.Tensor], position: int,
                   config: TrainConfig, model_dtype: torch.dtype, accumulation: int) -> LossTerms:
    """Forward and backward for one sample; its noise and sigma depend only on (seed, position).

    A plain ``backward()`` is enough: only fp32 and bf16 are offered, and neither needs loss scaling. The capture's
    region stays open through backward, which gradient checkpointing's recomputation needs (.attention_capture).
    """
    generator = torch.Generator().manual_seed(_seed_for(config.seed, "noise", position))
    sigma = sample_sigma(generator, config.shift)
    x0 = batch["x0"]
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    sigma = sigma.to(x0.device)
    x_t = noised_latent(x0, noise, sigma)
    mask = batch["latent_mask"]
    region = attention_region(mask) if capture is not None and has_edit_region(mask) else None
    with capture.region(region) if capture is not None else nullcontext():
        with capture.collect() if capture is not None else nullcontext() as scores:
            v_pred = predict_velocity(model, x_t.to(model_dtype), sigma, batch["context"], batch["prompt_embeds"])
        if region is not None and len(scores) != capture.layer_count:
            raise RuntimeError(f"collected {len(scores)} attention scores for {capture.layer_count} layers")
        terms = reco_loss(v_pred.float(), x0, noise, sigma, mask, scores if region is not None else None,
                          config.lambda_latent, config.lambda_attn)
        (terms.total / accumulation).backward()
    return terms


_SUMS = ("total", "ic", "latent", "attn")


def _step_sums(terms: Sequence[LossTerms], device: torch.device) -> torch.Tensor:
    """[sum, count] per loss term over this process's samples of one step, for one all-reduce."""
    values = []
    for name in _SUMS:
        present = [getattr(t, name).detach().float() for t in terms if getattr(t, name) is not None]
        values += [sum(present, torch.zeros((), device=device)), torch.tensor(float(len(present)), device=device)]
    return torch.stack(values)


def _step_record(step: int, lr: float, sums: torch.Tensor) -> dict[str, float]:
    record = {"step": step, "lr": lr}
    for index, name in enumerate(_SUMS):
        total, count = float(sums[2 * index]), float(sums[2 * index + 1])
        if count:
            record[name] = total / count
    return record


# ------------------------------------------------------------------------------------------------- checkpointing


def _save_checkpoint(accelerator, store: CheckpointStore, transformer, optimizer, scheduler, config: TrainConfig,
                     step: int, consumed: int, history: list[dict[str, float]]) -> None:
    """Main process stages the folder, every process adds its RNG state, main publishes it atomically."""
    if accelerator.is_main_process:
        store.begin(step)
    accelerator.wait_for_everyone()
    staging = store.staging(step)
    save_rng_state(staging, accelerator.process_index)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        lora = _lora_state_dict(transformer, config)
        save_safetensors(lora, staging / LORA_FILE, {"reco_checkpoint_step": str(step)})
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, staging / OPTIMIZER_FILE)
        write_state(staging, {"step": step, "consumed": consumed, "history": history, "config": config.identity(),
                              "processes": accelerator.num_processes})
        store.commit(step)
    accelerator.wait_for_everyone()


def _resume(accelerator, store: CheckpointStore, transformer, optimizer, scheduler, config: TrainConfig):
    """(checkpoint, step, consumed, history) restored from the latest complete checkpoint, or (None, 0, 0, [])."""
    latest = store.latest()
    if not config.resume:
        if latest is not None:
            raise ValueError(f"{store.folder} already holds checkpoints of a run ({latest.name}); set resume to "
                             "continue it, or choose another output or checkpoint_dir for a new run")
        return None, 0, 0, []
    if latest is None:
        return None, 0, 0, []
    state = read_state(latest)
    expected = config.identity()
    changed = [name for name in _IDENTITY if state["config"].get(name) != expected[name]]
    if changed:
        shown = ", ".join(f"{n}: {state['config'].get(n)!r} -> {expected[n]!r}" for n in changed)
        raise ValueError(f"cannot resume from {latest}: settings changed ({shown}); restore them or start a new run")
    _load_lora_state_dict(transformer, latest / LORA_FILE)
    saved = torch.load(latest / OPTIMIZER_FILE, weights_only=True, map_location="cpu")
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    load_rng_state(latest, accelerator.process_index)
    return latest, step_of(latest), int(state["consumed"]), list(state["history"])


# ---------------------------------------------------------------------------------------------------------- loop


def _notify(accelerator, callback: Callback | None, step: int, total: int, losses: dict[str, float]) -> None:
    """Run the callback on the main process; if it raises, every process stops (before anything more is saved)."""
    error: BaseException | None = None
    if callback is not None and accelerator.is_main_process:
        try:
            callback(step, total, losses)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the other processes are told
            error = exc
    if accelerator.num_processes > 1:
        flag = accelerator.reduce(torch.tensor(float(error is not None), device=accelerator.device), "sum")
        if float(flag) and error is None:
            raise TrainingStopped("training was stopped by the main process's callback")
    if error is not None:
        raise error


def _final_metadata(config: TrainConfig, step: int, history: list[dict[str, float]]) -> dict[str, str]:
    last = {k: v for k, v in history[-1].items() if k != "step"} if history else {}
    return lora_metadata(
        "comfy", [config.rank],
        reco_alpha=f"{config.lora_alpha:g}",
        reco_steps=str(step),
        reco_base_model=config.base_model.name,
        reco_learning_rate=f"{config.learning_rate:g}",
        reco_lambda_latent=f"{config.lambda_latent:g}",
        reco_lambda_attn=f"{config.lambda_attn:g}",
        reco_final_losses=json.dumps(last),
        reco_loss_history=json.dumps([round(entry["total"], 6) for entry in history]),
        reco_trained_by=PRODUCER,
    )


def launched_on_cpu() -> bool:
    """True for a multi-process launch (torchrun, accelerate) on a machine without CUDA.

    accelerate sets up a CPU process group (gloo) only when told the run is on CPU; without this it would treat each
    process as a lone single-process run. Pass it as ``cpu=`` to any Accelerator or PartialState of the run.
    """
    return "LOCAL_RANK" in os.environ and not torch.cuda.is_available()


def train(
    config: TrainConfig,
    dataset: Iterable[Mapping[str, Any]],
    callback: Callback | None = None,
    preview: Preview | None = None,
) -> TrainResult:
    """Train a ReCo LoRA and save it to ``config.output`` in ComfyUI's key form; returns the path and loss history.

    ``dataset`` yields items {x0, context, prompt_embeds, latent_mask, ...} (see the dataset module). ``callback``
    (step, total, losses) runs after every optimizer step on the main process; raising from it stops training with
    nothing more saved (complete checkpoints stay, no final LoRA is written). ``preview`` (step, transformer) runs
    every ``preview_every`` steps on the main process, in eval mode without gradients, for the caller to render.
    Works alike as one process or under ``accelerate launch`` / ``torchrun`` (one DDP process per device).
    """
    from accelerate import Accelerator

    accelerator = Accelerator(mixed_precision=_ACCELERATE_PRECISION[config.mixed_precision], cpu=launched_on_cpu())
    items = _indexable(dataset)
    order = _SampleOrder(len(items), config.seed)
    model_dtype = _MODEL_DTYPE[config.mixed_precision]

    transformer = _prepare_transformer(config).to(accelerator.device)
    capture = AttentionCapture(transformer) if config.lambda_attn else None
    optimizer = _make_optimizer(config, list(_adapter_parameters(transformer).values()))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup(config.warmup_steps))
    store = CheckpointStore(config.checkpoint_folder, config.keep_checkpoints)
    resumed_from, step, consumed, history = _resume(accelerator, store, transformer, optimizer, scheduler, config)
    if accelerator.num_processes > 1:
        _skip_frozen_sync(transformer)
    model = accelerator.prepare(transformer)

    accumulation = config.grad_accumulation
    per_step = accelerator.num_processes * accumulation
    while step < config.steps:
        first = consumed + accelerator.process_index * accumulation
        terms = []
        for micro in range(accumulation):
            check_interrupted()
            batch = _sample_tensors(items[order[first + micro]], accelerator.device, model_dtype)
            with accelerator.no_sync(model) if micro < accumulation - 1 else nullcontext():
                terms.append(_sample_losses(model, capture, batch, first + micro, config, model_dtype, accumulation))
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step, consumed = step + 1, consumed + per_step

        sums = _step_sums(terms, accelerator.device)
        record = _step_record(step, lr, accelerator.reduce(sums, "sum") if accelerator.num_processes > 1 else sums)
        history.append(record)
        if accelerator.is_main_process and step % config.log_every == 0:
            logger.info("step %d/%d %s", step, config.steps,
                        " ".join(f"{k}={v:.5g}" for k, v in record.items() if k != "step"))
        _notify(accelerator, callback, step, config.steps, record)
        if config.checkpoint_every and step % config.checkpoint_every == 0:
            _save_checkpoint(accelerator, store, transformer, optimizer, scheduler, config, step, consumed, history)
        if preview is not None and config.preview_every and step % config.preview_every == 0:
            if accelerator.is_main_process:
                transformer.eval()
                with torch.no_grad():
                    preview(step, transformer)
                transformer.train()
            accelerator.wait_for_everyone()

    if accelerator.is_main_process:
        config.output.parent.mkdir(parents=True, exist_ok=True)
        save_safetensors(_lora_state_dict(transformer, config), config.output,
                         _final_metadata(config, step, history))
    accelerator.wait_for_everyone()
    return TrainResult(lora_path=config.output, steps=step, history=history, resumed_from=resumed_from,
                       checkpoint_dir=store.folder)
